"""The Model protocol every model family meets, and the context a fit receives.

The runner, tuner and stacker only call these methods, so a GBDT, an sklearn pipeline, an image
network or a ranker plug in without the runner branching on a library name.

Prediction shapes (``Model.predict``):
- binary: (n,) probability of the positive class
- multiclass: (n, K) class probabilities, column k for label k (labels are 0..K-1)
- regression: (n,) values
- multilabel: (n, L) per-label probabilities, columns in ``ctx.target`` order
- distribution: (n, K) class probabilities, column k for target column k (the targets are one
  vote/probability column per class; ``FitContext.y`` gives them as row fractions)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import polars as pl

from medalist.models.frames import float_matrix
from medalist.workspace.data import target_array

__all__ = ["FitContext", "Model", "Task", "PREDICT_CHUNK_ROWS", "predict_in_chunks", "to_numpy"]

Task = Literal["binary", "multiclass", "regression", "multilabel", "distribution"]


@dataclass
class FitContext:
    """Everything a model needs to know about the fit besides the rows themselves.

    ``train``/``valid`` frames hold the feature columns plus the target column(s) and, if set,
    the weight column; the model selects ``features`` itself.
    """

    task: Task
    target: list[str]
    features: list[str]
    categorical: list[str] = field(default_factory=list)
    weight: str | None = None
    seed: int = 0
    n_classes: int | None = None  # multiclass only; labels are encoded 0..K-1
    metric: Any = None  # medalist.metrics.registry.Metric, used for eval logging where a library allows
    # "competition": boosting models early-stop on ``metric`` through the library's custom-metric hook
    # (see medalist.models.stopping); "native": on the objective's own metric. Other models ignore it.
    stop_metric: str = "native"
    num_iterations: int | None = None  # fixed boosting rounds (full-data refit); disables early stopping
    log: Callable[[str, float, int], None] | None = None  # log(name, value, step) for learning curves
    workdir: Path | None = None
    threads: int | None = None
    chunk_rows: int | None = None  # rows per predict slice; None: PREDICT_CHUNK_ROWS
    # The runner's target_transform: the frames' target column holds forward(y); this maps a prediction on
    # that scale back to the target's own (what ``metric`` scores). None: the target is untransformed.
    inverse_target: Callable[[np.ndarray], np.ndarray] | None = None

    def y(self, frame: pl.DataFrame) -> np.ndarray:
        return target_array(self.task, self.target, frame)

    def w(self, frame: pl.DataFrame) -> np.ndarray | None:
        return None if self.weight is None else frame.get_column(self.weight).to_numpy().astype(np.float64)

    def X(self, frame: pl.DataFrame) -> np.ndarray:
        return to_numpy(frame, self.features)


def to_numpy(frame: pl.DataFrame, columns: list[str]) -> np.ndarray:
    """Feature matrix as float64 (nulls → NaN), Fortran-ordered. Categorical columns are already integer codes.

    Filled column by column (:func:`~medalist.models.frames.float_matrix`): no Float64 copy of the frame
    besides the matrix.

    >>> to_numpy(pl.DataFrame({"a": [1, None], "b": [0.5, 2.0]}), ["b", "a"]).tolist()
    [[0.5, 1.0], [2.0, nan]]
    """
    return float_matrix(frame, columns, [])


@runtime_checkable
class Model(Protocol):
    """What every model adapter implements. Constructors only store parameters."""

    best_iteration: int | None

    def fit(self, train: pl.DataFrame, valid: pl.DataFrame | None, ctx: FitContext) -> "Model": ...

    def predict(self, frame: pl.DataFrame) -> np.ndarray: ...

    def save(self, path: Path) -> None: ...

    @classmethod
    def load(cls, path: Path) -> "Model": ...

    def feature_importance(self) -> dict[str, float] | None: ...


# Converting a whole frame at once (polars -> numpy -> DMatrix/Pool) holds several copies of it;
# predicting slice by slice bounds that to one slice.
PREDICT_CHUNK_ROWS = 100_000


def predict_in_chunks(
    frame: pl.DataFrame,
    predict: Callable[[pl.DataFrame], np.ndarray],
    chunk_rows: int | None = None,
) -> np.ndarray:
    """Apply ``predict`` to consecutive row slices of ``frame`` and stack the results.

    >>> df = pl.DataFrame({"x": [1.0, 2.0, 3.0]})
    >>> predict_in_chunks(df, lambda c: c["x"].to_numpy() * 2, chunk_rows=2).tolist()
    [2.0, 4.0, 6.0]
    """
    rows = chunk_rows or PREDICT_CHUNK_ROWS
    parts = [np.asarray(predict(chunk), dtype=np.float64) for chunk in frame.iter_slices(rows)]
    return np.concatenate(parts, axis=0)
