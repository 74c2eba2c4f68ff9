"""Any scikit-learn estimator (or a factory returning one) behind the Model protocol.

The model name is ``sklearn:<dotted.path>``: ``sklearn:sklearn.linear_model.LogisticRegression``,
``sklearn:mypkg.models:make_pipeline`` (module, colon, attribute; ``mypkg`` listed under ``trust:`` in
medalist.yaml) or a bare sklearn class name (``sklearn:Ridge``). Paths are checked by
:mod:`medalist.core.safety` before anything is imported. ``params`` are passed to the class/factory. By default the estimator is
wrapped in a pipeline that imputes, scales and one-hot encodes (``preprocess: false`` turns it off),
and for multilabel tasks an estimator without native multi-output support is wrapped in a
``MultiOutputClassifier``.

>>> from medalist.models import create_model
>>> create_model("sklearn:sklearn.linear_model.Ridge", {"alpha": 2.0}).spec
'sklearn.linear_model.Ridge'
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import ConfigError, did_you_mean
from medalist.models.base import ModelAdapter
from medalist.models.protocol import FitContext, to_numpy
from medalist.models.registry import MODELS
from medalist.models.soft import expand_soft

__all__ = ["SklearnModel", "resolve_estimator"]


def resolve_estimator(spec: str) -> Callable[..., Any]:
    """Import the estimator class or factory that ``spec`` names.

    >>> resolve_estimator("sklearn.linear_model.Ridge").__name__
    'Ridge'
    """
    where = f"model 'sklearn:{spec}'"
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
    elif "." in spec:
        module_name, _, attr = spec.rpartition(".")
    else:
        from sklearn.utils import all_estimators

        known = dict(all_estimators())
        if spec in known:
            return known[spec]
        raise ConfigError(
            where,
            expected="a dotted path like sklearn.linear_model.Ridge, or an sklearn estimator class name",
            found=f"no sklearn estimator named '{spec}'{did_you_mean(spec, known)}",
            fix="write the full import path, e.g. sklearn:sklearn.svm.SVC",
        )
    from medalist.core.safety import check_dotted, check_resolved, import_checked

    check_dotted(f"{module_name}:{attr}", where=where, kind="estimator")  # refused here, before any import
    try:
        obj: Any = import_checked(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            where,
            expected=f"an importable module '{module_name}'",
            found=f"no module named '{exc.name}'{_module_hint(exc.name or module_name)}",
            fix="check the spelling, or install the package that provides it",
        ) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            raise ConfigError(
                where,
                expected=f"'{part}' defined in {getattr(obj, '__name__', module_name)}",
                found=f"no attribute '{part}'{did_you_mean(part, names)}",
                fix="check the class or function name",
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(where, expected="a class or function returning an estimator",
                          found=f"a {type(obj).__name__}", fix="point at the estimator class")
    return check_resolved(obj, spec, where=where, kind="estimator")


def _module_hint(missing: str) -> str:
    # A typo in the last component of a dotted module path is the common case; suggest siblings.
    parent, _, leaf = missing.rpartition(".")
    if not parent:
        return ""
    try:
        pkg = importlib.import_module(parent)
    except ImportError:
        return ""
    return did_you_mean(leaf, [m.name for m in pkgutil.iter_modules(getattr(pkg, "__path__", []))])


def _thread_limit(threads: int | None) -> Any:
    """Cap OpenMP/BLAS threads (HistGradientBoosting, linear algebra) at ``threads`` if set."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    # Estimators without n_jobs parallelize through these pools; more threads than granted
    # cores spin against each other and can run many times slower.
    return threadpool_limits(limits=threads)


def _weight_kwargs(est: Any, w: np.ndarray) -> dict[str, np.ndarray]:
    """fit() kwargs that route sample weights to a pipeline's final step (recursively)."""
    from sklearn.pipeline import Pipeline

    if isinstance(est, Pipeline):
        name, step = est.steps[-1]
        return {f"{name}__{k}": v for k, v in _weight_kwargs(step, w).items()}
    return {"sample_weight": w}


def _final_step(est: Any) -> Any:
    from sklearn.pipeline import Pipeline

    while isinstance(est, Pipeline):
        est = est.steps[-1][1]
    return est


def _align(proba: np.ndarray, classes: Any, labels: list[int]) -> np.ndarray:
    # predict_proba only has columns for the classes seen in fit; put each in its label's column
    # (an unseen label gets probability 0).
    proba = np.asarray(proba, dtype=np.float64)
    out = np.zeros((proba.shape[0], len(labels)))
    where = {float(lab): i for i, lab in enumerate(labels)}
    for j, cls in enumerate(np.asarray(classes).tolist()):
        i = where.get(float(cls))
        if i is not None:
            out[:, i] = proba[:, j]
    return out


def _step_importance(est: Any) -> np.ndarray | None:
    from sklearn.multioutput import MultiOutputClassifier, MultiOutputRegressor

    if isinstance(est, (MultiOutputClassifier, MultiOutputRegressor)):
        parts = [_step_importance(e) for e in est.estimators_]
        return None if any(p is None for p in parts) else np.mean(parts, axis=0)
    if hasattr(est, "feature_importances_"):
        return np.asarray(est.feature_importances_, dtype=np.float64)
    if hasattr(est, "coef_"):
        coef = np.abs(np.asarray(est.coef_, dtype=np.float64))
        return coef.mean(axis=0) if coef.ndim == 2 else coef.ravel()
    return None


def _check_soft(final: Any, name: str) -> None:
    """A distribution is fitted as weighted hard labels: the estimator must be a classifier that takes
    ``sample_weight`` and gives ``predict_proba``."""
    from sklearn.base import is_classifier
    from sklearn.utils.validation import has_fit_parameter

    kind = type(final).__name__
    problem = (f"{kind} is not a classifier" if not is_classifier(final)
               else f"{kind}.fit takes no sample_weight" if not has_fit_parameter(final, "sample_weight")
               else f"{kind} has no predict_proba" if not hasattr(final, "predict_proba") else None)
    if problem:
        raise ConfigError(
            f"model '{name}' (task distribution)",
            expected="a classifier whose fit() takes sample_weight and that has predict_proba (soft targets are "
                     "trained as rows weighted by their class fractions)",
            found=problem,
            fix="use e.g. sklearn:sklearn.linear_model.LogisticRegression, sklearn:HistGradientBoostingClassifier "
                "or model lightgbm",
        )


class SklearnModel(ModelAdapter):
    """A scikit-learn estimator named by import path; saved with skops (joblib as fallback).

    >>> SklearnModel({"C": 0.5}, spec="sklearn.linear_model.LogisticRegression").options
    {'preprocess': True}
    """

    name = "sklearn"
    extra_options = {"preprocess": True}
    accepts_spec = True

    def _validate(self) -> None:
        super()._validate()
        if not self.spec:
            raise ConfigError(
                "model 'sklearn'",
                expected="an estimator path after the colon",
                found="no path",
                fix="write e.g. sklearn:sklearn.linear_model.LogisticRegression",
            )
        resolve_estimator(self.spec)  # a bad or refused path is named before anything is trained
        from medalist.core.safety import check_params

        check_params(self.params or {}, where=f"model '{self.registered_name}'")

    # -- building ----------------------------------------------------------------------------

    def _preprocessor(self, n_features: int, cat_idx: list[int], sparse_ok: bool) -> Any:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        num_idx = [i for i in range(n_features) if i not in set(cat_idx)]
        parts = []
        if num_idx:
            # keep_empty_features: a column that is all-null in one fold must not shift the others.
            num = Pipeline([
                ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
                ("scale", StandardScaler()),
            ])
            parts.append(("num", num, num_idx))
        if cat_idx:
            # Rare and unseen codes share one "infrequent" column; dense output (for estimators
            # that refuse sparse input) is capped in width.
            onehot = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5,
                                   max_categories=None if sparse_ok else 64, sparse_output=sparse_ok)
            cat = Pipeline([
                ("impute", SimpleImputer(strategy="constant", fill_value=-1, keep_empty_features=True)),
                ("onehot", onehot),
            ])
            parts.append(("cat", cat, cat_idx))
        return ColumnTransformer(parts, sparse_threshold=0.3 if sparse_ok else 0.0)

    def _build(self, ctx: FitContext) -> Any:
        from sklearn.base import clone
        from sklearn.multioutput import MultiOutputClassifier
        from sklearn.pipeline import Pipeline
        from sklearn.utils import get_tags

        factory = resolve_estimator(self.spec)
        try:
            est = factory(**self._params())
        except TypeError as exc:
            raise ConfigError(f"params of model '{self.registered_name}'", expected="arguments it accepts",
                              found=str(exc), fix="check the parameter names") from None
        if not hasattr(est, "fit"):
            raise ConfigError(f"model '{self.registered_name}'", expected="an estimator with fit()",
                              found=f"a {type(est).__name__}", fix="point at an estimator class or factory")
        # A factory may hand back a shared instance; clone so no fit leaks into the next.
        est = clone(est, safe=False)
        # Seed and threads go to every (nested) random_state / n_jobs the user left unset.
        defaults = {"random_state": ctx.seed, "n_jobs": ctx.threads}
        if hasattr(est, "get_params"):
            unset = {}
            for key, value in est.get_params(deep=True).items():
                default = defaults.get(key.rpartition("__")[2])
                if value is None and default is not None:
                    unset[key] = default
            if unset:
                est.set_params(**unset)
        try:
            tags = get_tags(est)
            native_multi, sparse_ok = tags.target_tags.multi_output, tags.input_tags.sparse
        except Exception:  # not an sklearn estimator: assume the conservative answers
            native_multi, sparse_ok = False, False
        if ctx.task == "multilabel" and not native_multi:
            est = MultiOutputClassifier(est)
        if self.preprocess:
            cat_idx = [self.features_.index(c) for c in self.categorical_]
            est = Pipeline([("preprocess", self._preprocessor(len(self.features_), cat_idx, sparse_ok)),
                            ("model", est)])
        return est

    # -- fitting / predicting ----------------------------------------------------------------

    def fit(self, train: pl.DataFrame, valid: pl.DataFrame | None, ctx: FitContext) -> "SklearnModel":
        """Fit a fresh estimator on ``train`` (``valid`` and ``num_iterations`` are not used).

        >>> # model.fit(train_df, None, FitContext(task="regression", target=["y"], features=["a"]))
        """
        from sklearn.utils.validation import has_fit_parameter

        self._start_fit(train, ctx)
        est = self._build(ctx)
        kwargs: dict[str, Any] = {}
        X, y, w = ctx.X(train), ctx.y(train), ctx.w(train)
        if self.task_ == "distribution":  # soft targets as weighted hard rows (see medalist.models.soft)
            _check_soft(_final_step(est), self.registered_name)
            rows, y, w = expand_soft(y, w)
            X = X[rows]
        if w is not None:
            final = _final_step(est)
            if not has_fit_parameter(final, "sample_weight"):
                raise ConfigError(
                    f"model '{self.registered_name}'",
                    expected="an estimator whose fit() takes sample_weight (a weight column is set)",
                    found=f"{type(final).__name__}.fit without sample_weight",
                    fix="pick another estimator or drop the weight column",
                )
            kwargs = _weight_kwargs(est, w)
        with warnings.catch_warnings(), _thread_limit(self.threads_):
            # n_jobs is set for every estimator that has it; some (LogisticRegression) deprecated it.
            warnings.filterwarnings("ignore", message=".*'n_jobs' has no effect", category=FutureWarning)
            est.fit(X, y, **kwargs)
        self.estimator_ = est
        return self

    def _predict_chunk(self, chunk: pl.DataFrame) -> np.ndarray:
        with _thread_limit(self.threads_):
            return self._predict_array(chunk)

    def _predict_array(self, chunk: pl.DataFrame) -> np.ndarray:
        X = to_numpy(chunk, self.features_)
        est = self.estimator_
        if self.task_ == "regression":
            return np.asarray(est.predict(X), dtype=np.float64).ravel()
        if not hasattr(est, "predict_proba"):
            # Without probabilities, scores still rank (AUC-type metrics); labels are the last resort.
            if self.task_ == "binary" and hasattr(est, "decision_function"):
                return np.asarray(est.decision_function(X), dtype=np.float64).ravel()
            return np.asarray(est.predict(X), dtype=np.float64)
        proba = est.predict_proba(X)
        if self.task_ == "binary":
            return _align(proba, est.classes_, [1])[:, 0]
        if self.task_ in ("multiclass", "distribution"):
            return _align(proba, est.classes_, list(range(int(self.n_classes_))))
        if isinstance(proba, list):  # one (n, classes) array per label
            return np.column_stack([_align(p, c, [1])[:, 0] for p, c in zip(proba, est.classes_)])
        return np.asarray(proba, dtype=np.float64)  # natively (n, L), e.g. MLPClassifier

    def feature_importance(self) -> dict[str, float] | None:
        """|coef_| or feature_importances_ summed back onto the input features, else None.

        >>> # {"age": 0.83, "income": 0.12, ...}
        """
        self._check_fitted()
        est = self.estimator_
        if not self.preprocess:
            imp = _step_importance(_final_step(est))
            if imp is None or len(imp) != len(self.features_):
                return None
            return {f: float(v) for f, v in zip(self.features_, imp)}
        imp = _step_importance(_final_step(est.steps[-1][1]))
        names = est.steps[0][1].get_feature_names_out()
        if imp is None or len(imp) != len(names):
            return None
        # Transformed columns are named after input column x<i> ("num__x3",
        # "num__missingindicator_x3", "cat__x5_2.0"); credit each to feature i.
        totals = np.zeros(len(self.features_))
        for name, value in zip(names, imp):
            match = re.search(r"(?:^|_)x(\d+)(?=_|$)", str(name).split("__", 1)[-1])
            if match is None:
                return None
            totals[int(match.group(1))] += value
        return {f: float(v) for f, v in zip(self.features_, totals)}

    # -- persistence -------------------------------------------------------------------------

    def _save_native(self, path: Path) -> None:
        """Save with skops when every type in the file is on :func:`skops_allowed`'s list; else a recorded pickle.

        The fallback is explicit: a :class:`PickleFallbackWarning` names the reason, the joblib file's
        sha256 goes into this workspace's ledger (so it loads here and nowhere else without
        ``MEDALIST_ALLOW_PICKLE=1``) and bundles leave it out.
        """
        import warnings

        import skops.io as sio
        from skops.io.exceptions import UnsupportedTypeException, UntrustedTypesFoundException

        from medalist.models.persist import PickleFallbackWarning, skops_allowed

        file = path / "model.skops"
        reason = None
        try:
            sio.dump(self.estimator_, file)
            _, refused = skops_allowed(sio.get_untrusted_types(file=file), self.spec)
            if refused:
                reason = f"it holds types outside medalist's skops allow-list: {', '.join(refused[:5])}"
            else:  # keep the skops file only if it reads back under the allow-list
                sio.load(file, trusted=skops_allowed(sio.get_untrusted_types(file=file), self.spec)[0])
        except (UnsupportedTypeException, UntrustedTypesFoundException, TypeError, AttributeError, NotImplementedError) as e:
            reason = f"skops cannot write or read it back ({type(e).__name__}: {e})"
        if reason is None:
            self.format_ = "skops"
            return
        file.unlink(missing_ok=True)
        import joblib

        from medalist.core.safety import record_pickle

        warnings.warn(PickleFallbackWarning(f"model '{self.registered_name}' saved as {path / 'model.joblib'} (a pickle) because "
                                            f"{reason}; it loads only in this workspace and is left out of bundles"),
                      stacklevel=2)
        joblib.dump(self.estimator_, path / "model.joblib")
        record_pickle(path / "model.joblib")
        self.format_ = "joblib"

    def _extra_meta(self) -> dict[str, Any]:
        return {"format": self.format_}

    def _load_native(self, path: Path, meta: dict[str, Any]) -> None:
        self.format_ = meta.get("format", "joblib")
        if self.format_ == "skops":
            import skops.io as sio

            file = path / "model.skops"
            from medalist.core.errors import DataError
            from medalist.models.persist import skops_allowed

            trusted, refused = skops_allowed(sio.get_untrusted_types(file=file), self.spec)
            if refused:
                raise DataError(str(file), expected="only scikit-learn/numpy/scipy types and the configured estimator's module",
                                found=f"types {', '.join(refused[:5])} (loading them could run their code)",
                                fix="re-train the model in this workspace, or load it yourself with skops if you trust the file")
            self.estimator_ = sio.load(file, trusted=trusted)
        elif self.format_ == "joblib":
            import joblib

            from medalist.core.safety import check_pickle_source

            check_pickle_source(path / "model.joblib")
            self.estimator_ = joblib.load(path / "model.joblib")
        else:
            from medalist.core.errors import DataError

            raise DataError(str(path / "model.json"), expected="format 'skops' or 'joblib'", found=repr(self.format_))


MODELS.register("sklearn")(SklearnModel)
