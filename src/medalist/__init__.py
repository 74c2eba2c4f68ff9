"""medalist: shared folds, config-driven CV runs with OOF, tracking and validated submissions.

The public API is re-exported here and imported lazily, so ``import medalist`` stays light.

>>> import medalist
>>> sorted(medalist.__all__)[:3]
['ConfigError', 'DataError', 'FeaturePlan']
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Workspace": "medalist.workspace.paths",
    "train": "medalist.cv.runner",
    "run_cv": "medalist.cv.runner",
    "Run": "medalist.runs.store",
    "list_runs": "medalist.runs.store",
    "build_folds": "medalist.workspace.folds",
    "make_folds": "medalist.workspace.folds",
    "Folds": "medalist.workspace.folds",
    "PredefinedFolds": "medalist.workspace.folds",
    "get_metric": "medalist.metrics.registry",
    "register_metric": "medalist.metrics.registry",
    "Metric": "medalist.metrics.registry",
    "MODELS": "medalist.models",
    "create_model": "medalist.models",
    "load_model": "medalist.models",
    "FitContext": "medalist.models",
    "Model": "medalist.models",
    "validate_submission": "medalist.kaggle.submit",
    "submit": "medalist.kaggle.submit",
    "init_local_competition": "medalist.workspace.competition",
    "init_workspace": "medalist.workspace.competition",
    "adversarial_validation": "medalist.cv.advval",
    "load_experiment": "medalist.core.config",
    "FeaturePlan": "medalist.features",
    "register_block": "medalist.features",
    "list_blocks": "medalist.features",
    "blend": "medalist.ensemble",
    "stack": "medalist.ensemble",
    "tune": "medalist.tuning.tune",
    "compare": "medalist.cv.compare",
    "auto": "medalist.ensemble.auto",
    "build_report": "medalist.report.html",
    "export_runs": "medalist.kaggle.bundle",
    "import_bundle": "medalist.kaggle.bundle",
    "build_package": "medalist.kaggle.package",
    "pick": "medalist.kaggle.ledger",
    "MedalistError": "medalist.core.errors",
    "ConfigError": "medalist.core.errors",
    "DataError": "medalist.core.errors",
    "FoldsError": "medalist.core.errors",
    "LeakError": "medalist.core.errors",
    "SubmissionError": "medalist.core.errors",
    "RunError": "medalist.core.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'medalist' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
