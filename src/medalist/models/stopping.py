"""Early stopping on the competition metric: each boosting library's own custom-metric hook.

The hooks hand the metric exactly what ``model.predict`` returns (probabilities for binary, (n, K)
for multiclass, values for regression), with the validation rows' labels and weights, so the round a
booster keeps is the round that scores best under the competition's metric:

* LightGBM: a ``feval`` (built-in objectives already give transformed predictions to it) and
  ``metric: "None"`` so nothing else drives stopping;
* XGBoost: a ``custom_metric`` (transformed predictions for built-in objectives), the default eval
  metric disabled and ``maximize`` from the metric's direction;
* CatBoost: an eval-metric object (``is_max_optimal``/``evaluate``/``get_final_error``) that turns
  CatBoost's raw approxes into probabilities (sigmoid / softmax) or values first.

:func:`stop_metric_mode` decides, before a run starts, whether the competition metric can drive
stopping for a task (``auto`` falls back to the native metric, ``competition`` is an error).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from medalist.core.deadline import check as _check_deadline
from medalist.core.errors import ConfigError
from medalist.metrics.registry import Metric

__all__ = ["stop_metric_mode", "lightgbm_feval", "xgboost_metric", "CatBoostMetric", "lightgbm_deadline", "xgboost_deadline"]

# Metrics that score rankings or item lists, not one prediction per row.
_RANKING_PREFIXES = ("map@", "ndcg@", "recall@")
_KEY = "model.early_stopping.metric"
_PROBE_ROWS = 50_000  # rows of the train labels the metric is tried on


def _labels(y: np.ndarray, task: str) -> np.ndarray:
    return y.astype(np.int64) if task in ("binary", "multiclass") else y


def _probe(metric: Metric, task: str, y: np.ndarray, n_classes: int | None) -> str | None:
    """Why ``metric`` cannot score a model's predictions of ``task`` on labels ``y`` (None when it can)."""
    if task == "multilabel":
        return "a multilabel task (each label is its own booster; the metric scores all labels at once)"
    if any(metric.name.startswith(p) for p in _RANKING_PREFIXES):
        return f"'{metric.name}' scores ranked item lists, not one prediction per row"
    rng = np.random.default_rng(0)
    if len(y) > _PROBE_ROWS:
        y = y[rng.choice(len(y), _PROBE_ROWS, replace=False)]
    n = len(y)
    if task == "multiclass":
        pred = rng.dirichlet(np.ones(int(n_classes or int(np.max(y)) + 1)), size=n)
    elif task == "binary":
        pred = rng.uniform(0.01, 0.99, size=n)
    else:  # values the target takes (rmsle-style metrics reject values outside the target's range)
        pred = rng.permutation(y.astype(np.float64))
    try:
        value = metric(_labels(y, task), pred)
    except Exception as e:  # the metric's own error on the model's prediction shape
        return f"'{metric.name}' fails on {task} predictions of shape {pred.shape}: {type(e).__name__}: {e}"
    if not np.isfinite(value):
        return f"'{metric.name}' gives {value} on {task} predictions of shape {pred.shape}"
    return None


def stop_metric_mode(mode: str, metric: Metric, task: str, y: np.ndarray, n_classes: int | None = None,
                     model: str = "the model") -> str:
    """``"competition"`` or ``"native"``: what a boosting model of ``task`` early-stops on under ``mode``.

    ``mode`` is the config's ``early_stopping.metric`` (auto | competition | native); ``y`` the train
    labels (first target column), on which the metric is tried with random predictions of the
    model's shape. ``competition`` for a metric the hooks cannot evaluate raises a ConfigError
    naming model.early_stopping.metric; ``auto`` falls back to ``native``.

    >>> from medalist.metrics.registry import get_metric
    >>> y = np.array([0, 1, 0, 1, 1])
    >>> stop_metric_mode("auto", get_metric("auc"), "binary", y)
    'competition'
    >>> stop_metric_mode("auto", get_metric("map@3"), "binary", y)
    'native'
    """
    if mode == "native" or task == "distribution":
        # A distribution trains as weighted hard rows: the native multiclass log loss on them is the
        # KL to the soft targets plus a constant (their entropy), so it stops where KL would.
        return "native"
    why = _probe(metric, task, np.asarray(y), n_classes)
    if why is None:
        return "competition"
    if mode == "competition":
        raise ConfigError(_KEY, expected=f"a metric {model} can evaluate each round on one prediction per row "
                          f"({task}: the shape model.predict gives)", found=why,
                          fix="set model.early_stopping.metric: native (or auto, which falls back to it)")
    return "native"


class _Hook:
    """A metric hook that also keeps every value it returned (``history``, one per round): the
    libraries' own records round them (XGBoost keeps 6 digits)."""

    def __init__(self, metric: Metric, task: str, truth: tuple[np.ndarray, np.ndarray | None] | None = None,
                 inverse: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        # ``truth``: the validation rows' labels and weights as float64 (the libraries keep float32
        # copies), used for any evaluation of that many rows. ``inverse``: the run's target transform
        # undone, so a model fitted on log1p(y) stops on the metric of y's scale (as the fold is scored).
        self.metric, self.task, self.truth, self.inverse, self.history = metric, task, truth, inverse, []

    def score(self, y: Any, p: np.ndarray, w: Any) -> float:
        if self.truth is not None and len(self.truth[0]) == len(p):
            y, w = self.truth
        y = _labels(np.asarray(y), self.task)
        w = None if w is None or not len(w) else np.asarray(w, dtype=np.float64)
        p = np.asarray(p, dtype=np.float64)
        if self.task == "multiclass" and p.ndim == 1:  # flattened: row-major (XGBoost) of n x K
            p = p.reshape(len(y), -1)
        if self.inverse is not None:
            y, p = self.inverse(y), self.inverse(p)
            if self.metric.domain is not None:
                p = self.metric.domain.clip(p)
        value = self.metric(y, p, w)
        self.history.append(value)
        return value


class lightgbm_feval(_Hook):  # a class named like the function it stands in for: feval=lightgbm_feval(...)
    """LightGBM ``feval(preds, dataset) -> (name, value, is_higher_better)`` scoring with ``metric``."""

    def __call__(self, preds: np.ndarray, data: Any) -> tuple[str, float, bool]:
        return self.metric.name, self.score(data.get_label(), preds, data.get_weight()), self.metric.greater_is_better


class xgboost_metric(_Hook):
    """XGBoost ``custom_metric(predt, dmatrix) -> (name, value)`` scoring with ``metric``."""

    def __call__(self, predt: np.ndarray, data: Any) -> tuple[str, float]:
        return self.metric.name, self.score(data.get_label(), predt, data.get_weight())


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class CatBoostMetric(_Hook):
    """A CatBoost eval metric object that scores the competition metric on transformed approxes.

    ``loss`` is the model's loss_function: Logloss/CrossEntropy -> sigmoid, MultiClass -> softmax,
    MultiClassOneVsAll -> per-class sigmoid, Poisson/Tweedie -> exp, anything else is a value.
    """

    def __init__(self, metric: Metric, task: str, loss: Any, truth: tuple[np.ndarray, np.ndarray | None] | None = None,
                 inverse: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        super().__init__(metric, task, truth, inverse)
        self.loss = str(loss or "").split(":")[0]

    def is_max_optimal(self) -> bool:
        return self.metric.greater_is_better

    def transform(self, approxes: Any) -> np.ndarray:
        a = np.array([np.asarray(x, dtype=np.float64) for x in approxes])
        if self.task == "multiclass":
            if self.loss == "MultiClassOneVsAll":
                return _sigmoid(a.T)
            e = np.exp(a.T - a.T.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        if self.task == "binary":
            return _sigmoid(a[0])
        return np.exp(a[0]) if self.loss in ("Poisson", "Tweedie") else a[0]

    def evaluate(self, approxes: Any, target: Any, weight: Any) -> tuple[float, float]:
        p = self.transform(approxes)
        if self.truth is not None and len(self.truth[0]) != len(p):  # the learn set: not scored (0), stopping needs none
            return 0.0, 1.0
        w = None if weight is None else np.asarray(weight, dtype=np.float64)
        return self.score(np.asarray(target, dtype=np.float64), p, w), 1.0

    def get_final_error(self, error: float, weight: float) -> float:
        return error


def lightgbm_deadline(env: Any) -> None:
    """LightGBM callback: stop the run once a time budget (:func:`medalist.core.deadline.deadline`) has passed."""
    _check_deadline()


def xgboost_deadline(lib: Any) -> Any:
    """An XGBoost callback doing the same after each round."""

    class _Deadline(lib.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            _check_deadline()
            return False

    return _Deadline()
