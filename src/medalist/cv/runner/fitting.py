"""What every fit of the runner shares: the model factory, the fit context, the target array."""

from __future__ import annotations

import numpy as np
import polars as pl

from medalist.core.config import ExperimentConfig
from medalist.metrics.registry import Metric
from medalist.models import FitContext, create_model
from medalist.workspace.data import CompetitionData

__all__ = ["_model_factory", "_context", "_y"]


def _model_factory(exp: ExperimentConfig):
    """A fresh, unfitted model per call: the config's model is built and validated once (a bad name
    or option fails here, before a run folder exists), and each fold x seed fits a ``clone`` of it."""
    from sklearn.base import clone

    m = exp.model
    proto = create_model(m.name, m.params, early_stopping_rounds=m.early_stopping_rounds,
                         num_boost_round=m.num_boost_round, **m.options)
    return lambda: clone(proto)


def _context(data: CompetitionData, exp: ExperimentConfig, metric: Metric, seed: int, sink: list, tag: dict,
             features: list[str] | None = None) -> FitContext:
    def _log(name: str, value: float, step: int) -> None:
        sink.append({**tag, "name": name, "step": int(step), "value": float(value)})

    return FitContext(
        task=data.task, target=data.target, features=features or data.features, categorical=data.categorical,
        weight=data.weight, seed=seed, n_classes=data.n_classes, metric=metric, log=_log, threads=exp.threads,
        chunk_rows=exp.predict.chunk_rows,
    )


def _y(data: CompetitionData, frame: pl.DataFrame) -> np.ndarray:
    return data.y(frame)
