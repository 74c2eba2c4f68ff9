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
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

__all__ = [
    "FitContext",
    "Model",
    "ModelAdapter",
    "ModelNotFittedError",
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


from medalist.core.errors import ConfigError, DataError, MedalistError, did_you_mean  # noqa: E402
from medalist.core.registry import Registry  # noqa: E402

MODELS: Registry = Registry("model")


def create_model(name: str, params: dict | None = None, **options: Any) -> Model:
    """Build a fresh, unfitted model by registered name, and check its parameters now.

    Constructors only store parameters (scikit-learn's contract, so ``clone`` works); this factory
    validates them at once because the runner creates a model before it writes a run folder.

    >>> m = create_model("lightgbm", {"learning_rate": 0.1})
    >>> type(m).__name__
    'LightGBMModel'
    """
    factory = MODELS.get(name)
    _, spec = MODELS.split(name)
    if spec is not None:
        options["spec"] = spec
    model = factory(params=dict(params or {}), **options)
    validate = getattr(model, "_validate", None)
    if validate is not None:
        validate()
    return model


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


class ModelNotFittedError(MedalistError, _SklearnNotFittedError):
    """A model was asked to predict, save or explain itself before ``fit``/``load``.

    It is also scikit-learn's ``NotFittedError`` (a ValueError and AttributeError), so code written
    against sklearn estimators catches it too.
    """


class ModelAdapter(BaseEstimator):
    """Shared plumbing for adapters: option checks, fitted metadata, chunked predict, save/load.

    A subclass sets ``name`` (its registry key) and ``extra_options`` (option -> default) and
    implements ``fit`` (calling ``_start_fit`` first), ``_predict_chunk``, ``_save_native``,
    ``_load_native`` and ``feature_importance``; it may extend ``_validate`` to check its params.

    It follows scikit-learn's estimator contract: the constructor only stores its arguments (each
    extra option as an attribute of its own name), ``_validate`` judges them when ``fit`` starts,
    and fitted state lives in attributes ending in ``_``. So ``get_params``/``set_params`` work and
    ``sklearn.base.clone(model)`` gives an equal, unfitted model for the next fold.

    ``best_iteration`` is the number of boosting rounds the fitted model uses (1-based), so it can
    be fed back as ``FitContext.num_iterations`` for a full-data refit; None for models without
    rounds or before a fit.
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
        # Stored as given: clone() checks that each parameter comes back as the very object passed.
        self.params = params
        self.early_stopping_rounds = early_stopping_rounds
        self.num_boost_round = num_boost_round
        self.spec = spec
        for key, default in self.extra_options.items():
            setattr(self, key, options.pop(key, default))
        # Misspelt options are kept (and cloned) so that fit reports them instead of ignoring them.
        self._unknown_options = options

    # -- scikit-learn parameter protocol -----------------------------------------------------

    @classmethod
    def _get_param_names(cls) -> list[str]:
        # Subclasses forward **kwargs to this constructor, so sklearn's signature introspection
        # of their own __init__ would miss the shared parameters.
        return sorted({"params", "early_stopping_rounds", "num_boost_round", "spec", *cls.extra_options})

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {**super().get_params(deep=deep), **self._unknown_options}

    def set_params(self, **params: Any) -> "ModelAdapter":
        for key in [k for k in params if k in self._unknown_options]:
            self._unknown_options[key] = params.pop(key)
        return super().set_params(**params)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "features_")

    @property
    def options(self) -> dict[str, Any]:
        """The family's extra options (``extra_options`` keys) with their current values."""
        return {key: getattr(self, key) for key in self.extra_options}

    @property
    def best_iteration(self) -> int | None:
        return getattr(self, "best_iteration_", None)

    @best_iteration.setter
    def best_iteration(self, value: int | None) -> None:
        self.best_iteration_ = value

    @property
    def registered_name(self) -> str:
        return self.name if self.spec is None else f"{self.name}:{self.spec}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.registered_name!r}, params={self.params!r})"

    def _params(self) -> dict[str, Any]:
        """A fresh copy of the library parameters (the stored dict is never modified)."""
        return dict(self.params or {})

    # -- fitting -----------------------------------------------------------------------------

    def _validate(self) -> None:
        """Check the stored parameters; raise ConfigError naming the bad one.

        Called by :func:`create_model` (so a run fails before its folder exists), at the start of
        every fit and by :meth:`load`. Subclasses extend it with their own checks.
        """
        if self._unknown_options:
            bad = sorted(self._unknown_options)[0]
            allowed = ["early_stopping_rounds", "num_boost_round", *self.extra_options]
            raise ConfigError(
                f"model '{self.name}' option '{bad}'",
                expected=f"one of {', '.join(allowed)}",
                found=f"'{bad}'{did_you_mean(bad, allowed)}",
                fix="remove the option or fix its spelling; library parameters go under params",
            )
        if self.spec is not None and not self.accepts_spec:
            raise ConfigError(
                f"model '{self.name}:{self.spec}'",
                expected=f"plain '{self.name}'",
                found=f"the argument ':{self.spec}'",
                fix=f"use model name '{self.name}'",
            )
        if self.params is not None and not isinstance(self.params, dict):
            raise ConfigError(
                f"params of model '{self.registered_name}'", expected="a mapping of parameter names to values",
                found=f"a {type(self.params).__name__}", fix="write params as a YAML mapping",
            )

    def _start_fit(self, train: pl.DataFrame, ctx: FitContext) -> None:
        """Check the parameters, forget any earlier fit and record what this one is about."""
        self._validate()
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
        self.best_iteration_ = None

    def fit(self, train: pl.DataFrame, valid: pl.DataFrame | None, ctx: FitContext) -> "ModelAdapter":
        raise NotImplementedError

    # -- predicting --------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise ModelNotFittedError(
                f"model '{self.registered_name}'",
                expected="a fitted model",
                found="it has not been fitted or loaded",
                fix="call fit() (or ModelAdapter.load() on a saved model folder) before predict, save "
                    "or feature_importance",
            )

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
            "params": self._params(),
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
        """Restore a model saved with :meth:`save` (the model.json keys are those of medalist 0.1.0)."""
        path = Path(path)
        meta = json.loads((path / "model.json").read_text())
        model = cls(params=meta.get("params"), spec=meta.get("spec"), **meta.get("options", {}))
        model._validate()
        model.features_ = list(meta["features"])
        model.categorical_ = list(meta.get("categorical") or [])
        model.task_ = meta["task"]
        model.n_classes_ = meta.get("n_classes")
        model.target_ = list(meta.get("target") or [])
        model.threads_ = None
        model.chunk_rows_ = None
        model.best_iteration_ = meta.get("best_iteration")
        model._load_native(path, meta)
        return model

    def _save_native(self, path: Path) -> None:
        raise NotImplementedError

    def _load_native(self, path: Path, meta: dict[str, Any]) -> None:
        raise NotImplementedError

    def feature_importance(self) -> dict[str, float] | None:
        self._check_fitted()
        return None
