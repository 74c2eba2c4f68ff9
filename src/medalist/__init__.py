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
    "Workspace": "medalist.workspace",
    "train": "medalist.runner",
    "run_cv": "medalist.runner",
    "Run": "medalist.store",
    "list_runs": "medalist.store",
    "build_folds": "medalist.folds",
    "make_folds": "medalist.folds",
    "Folds": "medalist.folds",
    "PredefinedFolds": "medalist.folds",
    "get_metric": "medalist.metrics",
    "register_metric": "medalist.metrics",
    "Metric": "medalist.metrics",
    "MODELS": "medalist.models",
    "create_model": "medalist.models",
    "load_model": "medalist.models",
    "FitContext": "medalist.models",
    "Model": "medalist.models",
    "validate_submission": "medalist.submit",
    "init_local_competition": "medalist.competition",
    "init_workspace": "medalist.competition",
    "adversarial_validation": "medalist.advval",
    "load_experiment": "medalist.config",
    "FeaturePlan": "medalist.features",
    "register_block": "medalist.features",
    "list_blocks": "medalist.features",
    "blend": "medalist.ensemble",
    "stack": "medalist.ensemble",
    "tune": "medalist.tune",
    "compare": "medalist.compare",
    "auto": "medalist.auto",
    "build_report": "medalist.report",
    "export_runs": "medalist.bundle",
    "import_bundle": "medalist.bundle",
    "build_package": "medalist.package",
    "pick": "medalist.ledger",
    "MedalistError": "medalist.errors",
    "ConfigError": "medalist.errors",
    "DataError": "medalist.errors",
    "FoldsError": "medalist.errors",
    "LeakError": "medalist.errors",
    "SubmissionError": "medalist.errors",
    "RunError": "medalist.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'medalist' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
