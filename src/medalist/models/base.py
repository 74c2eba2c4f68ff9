"""``ModelAdapter``: the base class of medalist's model families, on scikit-learn's estimator contract.

Constructors only store parameters (so ``sklearn.base.clone`` gives each fold a fresh model);
``fit`` validates, fitted state ends in ``_``, and an unfitted model raises
:class:`ModelNotFittedError` (also sklearn's ``NotFittedError``). Subclasses implement ``fit``,
``_predict_chunk``, ``_save_native`` and ``_load_native``; the rest (option checks, chunked predict,
save/load with ``model.json``) comes from here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

from medalist.core.errors import ConfigError, DataError, MedalistError, did_you_mean
from medalist.models.protocol import FitContext, predict_in_chunks

__all__ = ["ModelAdapter", "ModelNotFittedError"]


_TASKS = ("binary", "multiclass", "regression", "multilabel", "distribution")


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
    # True for boosting models whose round count the runner's early-stopping split decides
    # (config model.early_stopping); others fit on the fold as they always did.
    stops_early: ClassVar[bool] = False
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
        if ctx.task == "distribution":
            n_classes = len(ctx.target)  # one target column per class
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
        if self.task_ in ("multiclass", "distribution"):
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

    def _saved_options(self) -> dict[str, Any]:
        """The constructor options model.json keeps (``load`` passes them back): the boosting ones and
        the family's extra options; a family without boosting rounds overrides it."""
        return {"early_stopping_rounds": self.early_stopping_rounds, "num_boost_round": self.num_boost_round, **self.options}

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
            "options": self._saved_options(),
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
        try:
            meta = json.loads((path / "model.json").read_text())
        except (OSError, ValueError) as e:
            from medalist.core.errors import DataError

            raise DataError(str(path / "model.json"), expected="a saved model's model.json",
                            found=f"{'no such file' if isinstance(e, FileNotFoundError) else f'unreadable ({type(e).__name__})'}",
                            fix="point at a model folder saved by medalist (runs/<id>/models/<fold>)") from None
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
