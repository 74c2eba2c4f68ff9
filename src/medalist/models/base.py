"""The Model protocol every model family meets, and the context a fit receives.

The runner, tuner and stacker only call these methods, so a GBDT, an sklearn pipeline, an image
network or a ranker plug in without the runner branching on a library name.

Prediction shapes (``Model.predict``):
- binary: (n,) probability of the positive class
- multiclass: (n, K) class probabilities, column k for label k (labels are 0..K-1)
- regression: (n,) values
- multilabel: (n, L) per-label probabilities, columns in ``ctx.target`` order
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np
import polars as pl

__all__ = [
    "FitContext",
    "Model",
    "ModelAdapter",
    "Task",
    "MODELS",
    "PREDICT_CHUNK_ROWS",
    "create_model",
    "get_model",
    "list_models",
    "predict_in_chunks",
    "register_model",
    "to_numpy",
]

Task = Literal["binary", "multiclass", "regression", "multilabel"]


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
    metric: Any = None  # medalist.metrics.library.Metric, used for eval logging where a library allows
    num_iterations: int | None = None  # fixed boosting rounds (full-data refit); disables early stopping
    log: Callable[[str, float, int], None] | None = None  # log(name, value, step) for learning curves
    workdir: Path | None = None
    threads: int | None = None
    chunk_rows: int | None = None  # rows per predict slice; None: PREDICT_CHUNK_ROWS

    def y(self, frame: pl.DataFrame) -> np.ndarray:
        if self.task == "multilabel":
            return frame.select(self.target).to_numpy()
        return frame.get_column(self.target[0]).to_numpy()

    def w(self, frame: pl.DataFrame) -> np.ndarray | None:
        return None if self.weight is None else frame.get_column(self.weight).to_numpy().astype(np.float64)

    def X(self, frame: pl.DataFrame) -> np.ndarray:
        return to_numpy(frame, self.features)


def to_numpy(frame: pl.DataFrame, columns: list[str]) -> np.ndarray:
    """Feature matrix as float (nulls → NaN). Categorical columns are already integer codes."""
    return frame.select(pl.col(columns).cast(pl.Float64)).to_numpy()


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


from medalist.core.errors import ConfigError, DataError, did_you_mean  # noqa: E402
from medalist.core.registry import Registry  # noqa: E402

MODELS: Registry = Registry("model")


def create_model(name: str, params: dict | None = None, **options: Any) -> Model:
    """Build a fresh, unfitted model by registered name.

    >>> m = create_model("lightgbm", {"learning_rate": 0.1})
    >>> type(m).__name__
    'LightGBMModel'
    """
    factory = MODELS.get(name)
    _, spec = MODELS.split(name)
    if spec is not None:
        options["spec"] = spec
    return factory(params=dict(params or {}), **options)


def register_model(name: str, *, overwrite: bool = False):
    """Class decorator: register a :class:`Model` class (usually a :class:`ModelAdapter`) as ``name``."""
    return MODELS.register(name, overwrite=overwrite)


def get_model(name: str) -> type:
    """The model class registered as ``name`` (ConfigError with a did-you-mean if unknown)."""
    return MODELS.get(name)


def list_models() -> list[str]:
    """Names of the registered model families, lazy ones included.

    >>> "lightgbm" in list_models()
    True
    """
    return MODELS.names()


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


_TASKS = ("binary", "multiclass", "regression", "multilabel")


class ModelAdapter:
    """Shared plumbing for adapters: option checks, fitted metadata, chunked predict, save/load.

    A subclass sets ``name`` (its registry key) and ``extra_options`` (option -> default) and
    implements ``fit`` (calling ``_start_fit`` first), ``_predict_chunk``, ``_save_native``,
    ``_load_native`` and ``feature_importance``. Fitted state lives in attributes ending in ``_``.

    ``best_iteration`` is the number of boosting rounds the fitted model uses (1-based), so it can
    be fed back as ``FitContext.num_iterations`` for a full-data refit; None for models without
    rounds.
    """

    name: ClassVar[str] = ""
    extra_options: ClassVar[dict[str, Any]] = {}
    accepts_spec: ClassVar[bool] = False

    def __init__(
        self,
        params: dict | None = None,
        *,
        early_stopping_rounds: int | None = 100,
        num_boost_round: int = 10000,
        spec: str | None = None,
        **options: Any,
    ) -> None:
        unknown = sorted(set(options) - set(self.extra_options))
        if unknown:
            allowed = ["early_stopping_rounds", "num_boost_round", *self.extra_options]
            raise ConfigError(
                f"model '{self.name}' option '{unknown[0]}'",
                expected=f"one of {', '.join(allowed)}",
                found=f"'{unknown[0]}'{did_you_mean(unknown[0], allowed)}",
                fix="remove the option or fix its spelling; library parameters go under params",
            )
        if spec is not None and not self.accepts_spec:
            raise ConfigError(
                f"model '{self.name}:{spec}'",
                expected=f"plain '{self.name}'",
                found=f"the argument ':{spec}'",
                fix=f"use model name '{self.name}'",
            )
        self.params = dict(params or {})
        self.early_stopping_rounds = early_stopping_rounds
        self.num_boost_round = num_boost_round
        self.spec = spec
        self.options = {**self.extra_options, **options}
        self.best_iteration: int | None = None

    @property
    def registered_name(self) -> str:
        return self.name if self.spec is None else f"{self.name}:{self.spec}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.registered_name!r}, params={self.params!r})"

    # -- fitting -----------------------------------------------------------------------------

    def _start_fit(self, train: pl.DataFrame, ctx: FitContext) -> None:
        """Forget any earlier fit and record what this one is about."""
        if ctx.task not in _TASKS:
            raise ConfigError(
                "task", expected=f"one of {', '.join(_TASKS)}", found=f"'{ctx.task}'",
                fix="set task in the competition config",
            )
        missing = [c for c in [*ctx.features, *ctx.target] if c not in train.columns]
        if missing:
            raise DataError(
                f"training frame for model '{self.registered_name}'",
                expected="every feature and target column",
                found=f"missing {', '.join(missing[:5])}",
                fix="check the feature list against the data",
            )
        n_classes = ctx.n_classes
        if ctx.task == "multiclass" and n_classes is None:
            # Labels are encoded 0..K-1, so the largest label seen gives K when the runner didn't.
            n_classes = int(np.nanmax(ctx.y(train))) + 1
        self.features_ = list(ctx.features)
        self.categorical_ = [c for c in ctx.categorical if c in ctx.features]
        self.task_ = ctx.task
        self.n_classes_ = n_classes
        self.target_ = list(ctx.target)
        self.threads_ = ctx.threads
        self.chunk_rows_ = ctx.chunk_rows
        self.best_iteration = None

    def fit(self, train: pl.DataFrame, valid: pl.DataFrame | None, ctx: FitContext) -> "ModelAdapter":
        raise NotImplementedError

    # -- predicting --------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "features_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() or load() first")

    def _output_shape(self, n: int) -> tuple[int, ...]:
        if self.task_ == "multiclass":
            return (n, int(self.n_classes_))
        if self.task_ == "multilabel":
            return (n, len(self.target_))
        return (n,)

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """Predictions for ``frame`` in the shapes of the module docstring, chunk by chunk.

        Slices hold ``FitContext.chunk_rows`` rows (set at fit time, or on ``chunk_rows_`` after a
        load), else :data:`PREDICT_CHUNK_ROWS`.
        """
        self._check_fitted()
        missing = [c for c in self.features_ if c not in frame.columns]
        if missing:
            raise DataError(
                f"frame to predict with model '{self.registered_name}'",
                expected="the feature columns the model was fitted on",
                found=f"missing {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""),
                fix="build features for prediction the same way as for training",
            )
        if frame.height == 0:
            return np.empty(self._output_shape(0), dtype=np.float64)
        frame = frame.select(self.features_)
        rows = getattr(self, "chunk_rows_", None)
        return predict_in_chunks(frame, self._predict_chunk, rows).reshape(self._output_shape(frame.height))

    def _predict_chunk(self, chunk: pl.DataFrame) -> np.ndarray:
        raise NotImplementedError

    # -- persistence -------------------------------------------------------------------------

    def _extra_meta(self) -> dict[str, Any]:
        return {}

    def save(self, path: Path) -> None:
        """Write the native model file(s) and ``model.json`` describing the fit into ``path``."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._save_native(path)
        meta = {
            "model": self.registered_name,
            "spec": self.spec,
            "params": self.params,
            "options": {
                "early_stopping_rounds": self.early_stopping_rounds,
                "num_boost_round": self.num_boost_round,
                **self.options,
            },
            "features": self.features_,
            "categorical": self.categorical_,
            "task": self.task_,
            "n_classes": self.n_classes_,
            "best_iteration": self.best_iteration,
            "target": self.target_,
            **self._extra_meta(),
        }
        # default=str keeps a save from failing on an exotic param value; it is informational.
        (path / "model.json").write_text(json.dumps(meta, indent=2, default=str))

    @classmethod
    def load(cls, path: Path) -> "ModelAdapter":
        """Restore a model saved with :meth:`save`."""
        path = Path(path)
        meta = json.loads((path / "model.json").read_text())
        model = cls(params=meta.get("params"), spec=meta.get("spec"), **meta.get("options", {}))
        model.features_ = list(meta["features"])
        model.categorical_ = list(meta.get("categorical") or [])
        model.task_ = meta["task"]
        model.n_classes_ = meta.get("n_classes")
        model.target_ = list(meta.get("target") or [])
        model.threads_ = None
        model.chunk_rows_ = None
        model.best_iteration = meta.get("best_iteration")
        model._load_native(path, meta)
        return model

    def _save_native(self, path: Path) -> None:
        raise NotImplementedError

    def _load_native(self, path: Path, meta: dict[str, Any]) -> None:
        raise NotImplementedError

    def feature_importance(self) -> dict[str, float] | None:
        return None
