"""Gradient-boosted tree adapters: LightGBM, XGBoost and CatBoost behind the Model protocol.

All three share one fit loop (:class:`_GBDTModel`): pick the objective from the task, early-stop
on the validation frame unless a fixed number of rounds is asked for, train one booster per label
for multilabel tasks, and log learning curves. Each library only supplies how to build its data,
train one booster, predict, save and load.

>>> from medalist.models import create_model
>>> create_model("xgboost", {"max_depth": 4}, num_boost_round=500).num_boost_round
500
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import polars as pl

from medalist.core.optional import require
from medalist.models.base import ModelAdapter
from medalist.models.frames import (catboost_reads_frames, feature_frame, float_matrix, lightgbm_reads_frames,
                                    xgboost_reads_frames)
from medalist.models.protocol import FitContext
from medalist.models.registry import MODELS
from medalist.models.soft import SOFT_LABEL, expand_frame
from medalist.models.stopping import CatBoostMetric, lightgbm_deadline, lightgbm_feval, xgboost_deadline, xgboost_metric

__all__ = ["LightGBMModel", "XGBoostModel", "CatBoostModel"]

# At most this many points of a learning curve go to ctx.log: a tracker call per boosting round
# (thousands) costs more than the curve is worth.
_MAX_LOGGED_POINTS = 200


def _require(package: str) -> ModuleType:
    """Import an optional GBDT library, or explain how to install it.

    >>> _require("lightgbm").__name__
    'lightgbm'
    """
    return require(package, extra="gbdt", purpose=f"model '{package}'")


def _set_default(params: dict[str, Any], aliases: tuple[str, ...], value: Any) -> None:
    # Libraries reject or silently prefer one spelling when two aliases are given, so a default
    # is only added when the user set none of them.
    if value is not None and not any(a in params for a in aliases):
        params[aliases[0]] = value


def _native_names(features: list[str]) -> list[str]:
    # LightGBM rejects JSON punctuation and XGBoost '[', ']' and '<' in feature names; positional
    # names keep any column name usable (importances map back by position).
    bad = re.compile(r'[\[\]{}<>",:\s]')
    if any(bad.search(f) for f in features) or len(set(features)) != len(features):
        return [f"f{i}" for i in range(len(features))]
    return list(features)


def _log_curves(ctx: FitContext, curves: dict[str, list[float]], prefix: str = "") -> None:
    if ctx.log is None:
        return
    for name, values in curves.items():
        n = len(values)
        stride = max(1, -(-n // _MAX_LOGGED_POINTS))
        for i in range(0, n, stride):
            ctx.log(prefix + name, float(values[i]), i + 1)
        if (n - 1) % stride:
            ctx.log(prefix + name, float(values[-1]), n)


class _GBDTModel(ModelAdapter):
    """The fit loop shared by the boosting libraries; subclasses supply the library calls."""

    package: ClassVar[str] = ""
    stops_early: ClassVar[bool] = True
    native_file: ClassVar[str] = ""
    round_aliases: ClassVar[tuple[str, ...]] = ()

    # -- hooks -------------------------------------------------------------------------------

    def _data(self, frame: pl.DataFrame, y: np.ndarray | None, w: np.ndarray | None, ref: Any = None) -> Any:
        raise NotImplementedError

    def _train_one(
        self, lib: ModuleType, params: dict, task: str, dtrain: Any, dvalid: Any, rounds: int,
        stop: int | None, ctx: FitContext,
    ) -> tuple[Any, int, dict[str, list[float]]]:
        """Train one booster; returns it, the rounds it uses and its validation curves."""
        raise NotImplementedError

    def _predict_booster(self, booster: Any, data: Any, rounds: int) -> np.ndarray:
        raise NotImplementedError

    def _importance(self, booster: Any, rounds: int) -> np.ndarray:
        raise NotImplementedError

    # -- shared logic ------------------------------------------------------------------------

    def _float_matrix(self, frame: pl.DataFrame, dtype: type = np.float64, order: str = "F") -> np.ndarray:
        return float_matrix(frame, self.features_, self.categorical_, dtype=dtype, order=order)

    def _competition(self, ctx: FitContext, dvalid: Any, stop: int | None) -> bool:
        """Whether this fit early-stops on the competition metric (``ctx.stop_metric``)."""
        return bool(stop) and dvalid is not None and ctx.metric is not None and ctx.stop_metric == "competition" \
            and self.task_ != "multilabel"

    def _rounds(self, params: dict) -> int:
        # A rounds alias in params is honoured like num_boost_round, and removed so it can't
        # override a refit's fixed num_iterations inside the library.
        rounds = self.num_boost_round
        for alias in self.round_aliases:
            if alias in params:
                rounds = int(params.pop(alias))
        return rounds

    def fit(self, train: pl.DataFrame, valid: pl.DataFrame | None, ctx: FitContext) -> "_GBDTModel":
        """Train on ``train``, early-stopping on ``valid`` unless ``ctx.num_iterations`` is set.

        >>> # model.fit(train_df, valid_df, FitContext(task="binary", target=["y"], features=["a"]))
        """
        lib = _require(self.package)
        self._start_fit(train, ctx)
        self.native_names_ = _native_names(self.features_)
        params = self._params()
        rounds = self._rounds(params)
        if ctx.num_iterations is not None:
            rounds, valid = int(ctx.num_iterations), None  # full-data refit: exact rounds, no peeking
        stop = self.early_stopping_rounds if valid is not None else None

        if self.task_ == "multilabel":
            labels, task = list(self.target_), "binary"
        else:
            labels, task = [self.target_[0]], self.task_
        w = ctx.w(train)
        wv = ctx.w(valid) if valid is not None else None
        if self.task_ == "distribution":  # soft targets as weighted hard rows: multiclass log loss = KL + const
            (train, w), labels, task = expand_frame(train, self.target_, w), [SOFT_LABEL], "multiclass"
            valid, wv = expand_frame(valid, self.target_, wv) if valid is not None else (None, None)
        boosters, used, scores = [], [], []
        for label in labels:
            y = train.get_column(label).to_numpy().astype(np.float64)
            dtrain = self._data(train, y, w)
            dvalid = None
            if valid is not None:
                yv = valid.get_column(label).to_numpy().astype(np.float64)
                dvalid = self._data(valid, yv, wv, ref=dtrain)
                self._truth = (yv, wv)  # float64 labels/weights for the competition-metric hooks
            booster, n_used, curves = self._train_one(lib, dict(params), task, dtrain, dvalid, rounds, stop, ctx)
            boosters.append(booster)
            used.append(int(n_used))
            if self._competition(ctx, dvalid, stop):
                scores.append(float(curves[f"valid/{ctx.metric.name}"][int(n_used) - 1]))
            _log_curves(ctx, curves, prefix=f"{label}/" if len(labels) > 1 else "")
        self.__dict__.pop("_truth", None)
        self.boosters_ = boosters
        self.rounds_ = used
        # What stopping used: the competition metric's name and its value at the kept round, or "native".
        self.stop_metric_ = ctx.metric.name if scores else ("native" if stop else None)
        self.stop_scores_ = scores
        # One number for the runner's refit: the longest any label needed.
        self.best_iteration_ = max(used)
        return self

    def _predict_chunk(self, chunk: pl.DataFrame) -> np.ndarray:
        data = self._data(chunk, None, None)
        preds = [self._predict_booster(b, data, r) for b, r in zip(self.boosters_, self.rounds_)]
        return np.column_stack(preds) if self.task_ == "multilabel" else preds[0]

    def feature_importance(self) -> dict[str, float]:
        """Total gain per feature, averaged over labels for multilabel models.

        >>> # {"age": 1523.2, "income": 310.7, ...}
        """
        self._check_fitted()
        imp = np.mean([self._importance(b, r) for b, r in zip(self.boosters_, self.rounds_)], axis=0)
        return {f: float(v) for f, v in zip(self.features_, imp)}

    def _file(self, path: Path, i: int) -> Path:
        if len(self.target_) <= 1 or self.task_ != "multilabel":
            return path / self.native_file
        stem, dot, suffix = self.native_file.partition(".")
        return path / f"{stem}_{i}{dot}{suffix}"

    def _extra_meta(self) -> dict[str, Any]:
        return {"rounds": self.rounds_, "native_names": self.native_names_}

    def _save_native(self, path: Path) -> None:
        for i, booster in enumerate(self.boosters_):
            self._save_booster(booster, self._file(path, i), self.rounds_[i])

    def _load_native(self, path: Path, meta: dict[str, Any]) -> None:
        lib = _require(self.package)
        self.rounds_ = [int(r) for r in meta["rounds"]]
        self.native_names_ = list(meta["native_names"])
        self.boosters_ = [self._load_checked(lib, self._file(path, i)) for i in range(len(self.rounds_))]

    def _load_checked(self, lib: ModuleType, file: Path) -> Any:
        """The library's own parser on its native file (never a pickle); a missing or unreadable file is a DataError."""
        from medalist.core.errors import DataError

        if not file.is_file():
            raise DataError(str(file), expected=f"the {self.package} model file", found="no such file",
                            fix="re-train the run (or import it with `export --models`)")
        try:
            return self._load_booster(lib, file)
        except Exception as e:  # the library's parse error: the file is damaged or not this library's format
            raise DataError(str(file), expected=f"a {self.package} model file", found=f"unreadable ({type(e).__name__}: "
                            f"{str(e).splitlines()[0][:200] if str(e) else ''})", fix="re-train the run") from None

    def _save_booster(self, booster: Any, file: Path, rounds: int) -> None:
        raise NotImplementedError

    def _load_booster(self, lib: ModuleType, file: Path) -> Any:
        raise NotImplementedError


class LightGBMModel(_GBDTModel):
    """LightGBM (v4 API) booster; saves ``model.txt``.

    >>> LightGBMModel({"num_leaves": 15}, early_stopping_rounds=50).params
    {'num_leaves': 15}
    """

    name = "lightgbm"
    package = "lightgbm"
    native_file = "model.txt"
    round_aliases = ("num_iterations", "num_iteration", "n_iter", "num_tree", "num_trees", "num_round",
                     "num_rounds", "nrounds", "num_boost_round", "n_estimators", "max_iter")
    _objectives: ClassVar[dict[str, str]] = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}

    def _data(self, frame, y, w, ref=None):
        # LightGBM 4.7+ reads the polars frame's own buffers (Arrow C stream): no float64 matrix of
        # the fold, bitwise the same trees and predictions as from that matrix (tests/models).
        import lightgbm as lgb

        if lightgbm_reads_frames(lgb):
            X = feature_frame(frame, self.features_, self.categorical_, self.native_names_)
        else:
            X = self._float_matrix(frame)
        if y is None:
            return X
        cat = [self.native_names_[self.features_.index(c)] for c in self.categorical_]
        return lgb.Dataset(X, label=y, weight=w, feature_name=self.native_names_,
                           categorical_feature=cat, reference=ref, free_raw_data=True)

    def _train_one(self, lib, params, task, dtrain, dvalid, rounds, stop, ctx):
        params.setdefault("objective", self._objectives[task])
        if task == "multiclass":
            params.setdefault("num_class", self.n_classes_)
        _set_default(params, ("verbosity", "verbose"), -1)
        _set_default(params, ("seed", "random_seed", "random_state"), ctx.seed)
        _set_default(params, ("num_threads", "num_thread", "nthread", "nthreads", "n_jobs"), ctx.threads)
        curves: dict[str, dict[str, list[float]]] = {}
        callbacks = [lib.log_evaluation(0), lightgbm_deadline]
        valid_sets, feval = [], None
        if self._competition(ctx, dvalid, stop):
            params["metric"], feval = "None", lightgbm_feval(ctx.metric, task, self._truth, ctx.inverse_target)
            params.pop("first_metric_only", None)
        if dvalid is not None:
            valid_sets = [dvalid]
            callbacks.append(lib.record_evaluation(curves))
            if stop:
                callbacks.append(lib.early_stopping(stop, verbose=False))
        booster = lib.train(params, dtrain, num_boost_round=rounds, valid_sets=valid_sets,
                            valid_names=["valid"][: len(valid_sets)], callbacks=callbacks, feval=feval)
        used = booster.best_iteration or booster.current_iteration()
        flat = {f"{ds}/{metric}": vals for ds, m in curves.items() for metric, vals in m.items()}
        if feval is not None:
            flat[f"valid/{ctx.metric.name}"] = feval.history
        return booster, used, flat

    def _predict_booster(self, booster, data, rounds):
        return booster.predict(data, num_iteration=rounds)

    def _importance(self, booster, rounds):
        return booster.feature_importance(importance_type="gain", iteration=rounds)

    def _save_booster(self, booster, file, rounds):
        booster.save_model(str(file), num_iteration=rounds)

    def _load_booster(self, lib, file):
        return lib.Booster(model_file=str(file))


class XGBoostModel(_GBDTModel):
    """XGBoost booster (``hist`` trees, native categoricals); saves ``xgboost.ubj``.

    >>> XGBoostModel({"max_depth": 6}).early_stopping_rounds
    100
    """

    name = "xgboost"
    package = "xgboost"
    native_file = "xgboost.ubj"
    round_aliases = ("num_boost_round", "n_estimators", "num_rounds", "nrounds")
    _objectives: ClassVar[dict[str, str]] = {
        "binary": "binary:logistic", "multiclass": "multi:softprob", "regression": "reg:squarederror",
    }

    def _data(self, frame, y, w, ref=None):
        import xgboost as xgb

        # XGBoost 2.1+ reads the polars frame's columns through Arrow (no float64 matrix); an older one
        # gets float32, the precision it stores values in (same rounding as its own cast: same trees).
        if xgboost_reads_frames(xgb):
            X = feature_frame(frame, self.features_, self.categorical_, self.native_names_)
        else:
            X = self._float_matrix(frame, np.float32, "C")
        cats = set(self.categorical_)
        types = ["c" if f in cats else "q" for f in self.features_]
        return xgb.DMatrix(X, label=y, weight=w, missing=np.nan, feature_names=self.native_names_,
                           feature_types=types, enable_categorical=bool(cats), nthread=self.threads_ or -1)

    def _train_one(self, lib, params, task, dtrain, dvalid, rounds, stop, ctx):
        params.setdefault("objective", self._objectives[task])
        if task == "multiclass":
            params.setdefault("num_class", self.n_classes_)
        params.setdefault("tree_method", "hist")
        _set_default(params, ("seed", "random_state"), ctx.seed)
        _set_default(params, ("nthread", "n_jobs"), ctx.threads)
        curves: dict[str, dict[str, list[float]]] = {}
        evals = [(dvalid, "valid")] if dvalid is not None else []
        hook: dict[str, Any] = {}
        if self._competition(ctx, dvalid, stop):
            params["disable_default_eval_metric"] = 1
            params.pop("eval_metric", None)  # else XGBoost also evaluates it (stopping uses the last metric: ours)
            hook = {"custom_metric": xgboost_metric(ctx.metric, task, self._truth, ctx.inverse_target), "maximize": ctx.metric.greater_is_better}
        booster = lib.train(params, dtrain, num_boost_round=rounds, evals=evals, callbacks=[xgboost_deadline(lib)],
                            early_stopping_rounds=stop or None, evals_result=curves, verbose_eval=False, **hook)
        used = booster.best_iteration + 1 if stop else booster.num_boosted_rounds()
        flat = {f"{ds}/{metric}": vals for ds, m in curves.items() for metric, vals in m.items()}
        if hook:
            flat[f"valid/{ctx.metric.name}"] = hook["custom_metric"].history
        return booster, used, flat

    def _predict_booster(self, booster, data, rounds):
        return booster.predict(data, iteration_range=(0, rounds))

    def _importance(self, booster, rounds):
        # get_score omits features never split on.
        score = booster.get_score(importance_type="total_gain")
        return np.array([score.get(n, 0.0) for n in self.native_names_], dtype=np.float64)

    def _save_booster(self, booster, file, rounds):
        # Slicing keeps only the rounds in use, so the file predicts like the fitted model;
        # linear boosters can't be sliced and are saved whole (predict still caps the rounds).
        try:
            booster = booster[:rounds]
        except Exception:
            pass
        booster.save_model(str(file))

    def _load_booster(self, lib, file):
        booster = lib.Booster()
        booster.load_model(str(file))
        return booster


class CatBoostModel(_GBDTModel):
    """CatBoost model with native categorical features; saves ``model.cbm``.

    >>> CatBoostModel({"depth": 6}, num_boost_round=2000).num_boost_round
    2000
    """

    name = "catboost"
    package = "catboost"
    native_file = "model.cbm"
    round_aliases = ("iterations", "n_estimators", "num_boost_round", "num_trees")
    _losses: ClassVar[dict[str, str]] = {"binary": "Logloss", "multiclass": "MultiClass", "regression": "RMSE"}

    def _data(self, frame, y, w, ref=None):
        from catboost import Pool

        cats = set(self.categorical_)
        # CatBoost wants integer (or string) categories: codes as int, missing as its own -1 code. It reads
        # the polars frame itself (no pandas copy; the same model, tests/models/test_frames.py).
        X = frame.select(
            pl.col(f).cast(pl.Float64).fill_nan(None).fill_null(-1).cast(pl.Int64) if f in cats
            else pl.col(f).cast(pl.Float64)
            for f in self.features_
        )
        if not catboost_reads_frames():  # a CatBoost without polars support: a pandas copy
            X = X.to_pandas()
        cat_idx = [i for i, f in enumerate(self.features_) if f in cats]
        if y is not None and self.task_ in ("multiclass", "distribution"):
            y = y.astype(np.int64)  # must match the integer class_names
        return Pool(X, label=y, weight=w, cat_features=cat_idx)

    def _estimator(self, lib, task, params=None):
        cls = lib.CatBoostRegressor if task == "regression" else lib.CatBoostClassifier
        return cls(**(params or {}))

    def _train_one(self, lib, params, task, dtrain, dvalid, rounds, stop, ctx):
        _set_default(params, ("loss_function", "objective"), self._losses[task])
        if task == "multiclass":
            # Pins the probability columns to 0..K-1 even when a fold misses a class.
            params.setdefault("class_names", list(range(int(self.n_classes_))))
        params["iterations"] = rounds
        _set_default(params, ("random_seed", "random_state"), ctx.seed)
        _set_default(params, ("thread_count",), ctx.threads)
        _set_default(params, ("verbose", "logging_level", "silent", "verbose_eval"), False)
        params.setdefault("allow_writing_files", False)
        if self._competition(ctx, dvalid, stop):
            params["eval_metric"] = CatBoostMetric(ctx.metric, task, params.get("loss_function", params.get("objective")), self._truth,
                                                   ctx.inverse_target)
        model = self._estimator(lib, task, params)
        with warnings.catch_warnings():  # "can't optimize method evaluate" (numba) for a Python eval metric
            warnings.simplefilter("ignore", UserWarning)
            model.fit(dtrain, eval_set=dvalid, use_best_model=bool(stop), early_stopping_rounds=stop or None)
        curves = model.get_evals_result().get("validation", {}) if dvalid is not None else {}
        flat = {f"valid/{m}": v for m, v in curves.items() if m != "CatBoostMetric"}
        if "CatBoostMetric" in curves:  # CatBoost keeps a copy of the metric object: its values come from here
            flat[f"valid/{ctx.metric.name}"] = list(curves["CatBoostMetric"])
        return model, model.tree_count_, flat

    def _predict_booster(self, booster, data, rounds):
        if self.task_ == "regression":
            return booster.predict(data)
        proba = booster.predict_proba(data)
        return proba if self.task_ in ("multiclass", "distribution") else proba[:, 1]

    def _importance(self, booster, rounds):
        return np.asarray(booster.get_feature_importance(), dtype=np.float64)

    def _save_booster(self, booster, file, rounds):
        booster.save_model(str(file))

    def _load_booster(self, lib, file):
        return self._estimator(lib, "regression" if self.task_ == "regression" else "binary").load_model(str(file))


MODELS.register("lightgbm")(LightGBMModel)
MODELS.register("xgboost")(XGBoostModel)
MODELS.register("catboost")(CatBoostModel)
