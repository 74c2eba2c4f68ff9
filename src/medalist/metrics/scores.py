"""The built-in competition metrics, registered by name (auc, pauc, logloss, mlogloss, accuracy, f1,
f1_micro, rmse, rmsle, mae, r2, qwk, kl, map@k); the recommender's ndcg@k and recall@k are declared
lazily. Conventions for ``y_pred`` are in :mod:`medalist.metrics.registry`."""

from __future__ import annotations

import numpy as np
from scipy.special import rel_entr
from sklearn import metrics as skm

from medalist.core.errors import ConfigError
from medalist.metrics.registry import METRICS, Domain, register_metric

__all__ = ["map_at_k"]

_EPS = 1e-15  # probabilities are clipped to [_EPS, 1 - _EPS] before a log
_PROBA = Domain(low=0.0, high=1.0)  # probabilities (binary targets are 0/1, inside it too)
_PROBA_PRED = Domain(low=0.0, high=1.0, targets=False)  # probabilities; targets are class ids


# ---------------------------------------------------------------- conversions


def _binary_proba(y_pred) -> np.ndarray:
    p = np.asarray(y_pred, dtype=float)
    # Accept (n, 2) predict_proba output for binary targets; medalist stores (n,) though.
    return p[:, 1] if p.ndim == 2 and p.shape[1] == 2 else p


def _to_labels(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    if yp.ndim == 2 and yt.ndim == 1:
        if yp.shape[1] == 1:
            yp = yp[:, 0]
        else:
            return yt, yp.argmax(axis=1)
    if yp.ndim == 2:  # multilabel
        return yt, (yp >= 0.5).astype(int)
    if np.issubdtype(yp.dtype, np.integer) or np.all(yp == np.round(yp)):
        return yt, yp.astype(int)  # already hard labels
    return yt, (yp >= 0.5).astype(int)


def _average(yt: np.ndarray, yl: np.ndarray) -> str:
    binary = yt.ndim == 1 and set(np.unique(yt)) | set(np.unique(yl)) <= {0, 1}
    return "binary" if binary else "macro"


# ---------------------------------------------------------------- metrics


@register_metric("auc", direction="maximize")
def auc(y_true, y_pred, sample_weight=None):
    yt, yp = np.asarray(y_true), _binary_proba(y_pred)
    if yp.ndim == 2 and yt.ndim == 1:
        return skm.roc_auc_score(yt, yp, sample_weight=sample_weight, multi_class="ovr",
                                 average="macro", labels=np.arange(yp.shape[1]))
    return skm.roc_auc_score(yt, yp, sample_weight=sample_weight, average="macro")


@register_metric("pauc", direction="maximize")
def pauc(y_true, y_pred, sample_weight=None, min_tpr=0.8):
    """ISIC 2024 partial AUC above ``min_tpr``; ranges over [0, 1 - min_tpr] (0.2 is perfect)."""
    if not 0.0 <= min_tpr < 1.0:
        raise ConfigError("metric 'pauc' parameter 'min_tpr'", expected="a number in [0, 1)", found=repr(min_tpr))
    # Kaggle's formulation: flip labels and scores so the TPR >= min_tpr band becomes FPR <= max_fpr,
    # then undo sklearn's McClish standardisation to get the raw area.
    v_gt = np.abs(np.asarray(y_true) - 1)
    v_pred = -1.0 * _binary_proba(y_pred)
    max_fpr = abs(1 - min_tpr)
    scaled = skm.roc_auc_score(v_gt, v_pred, max_fpr=max_fpr, sample_weight=sample_weight)
    return 0.5 * max_fpr**2 + (max_fpr - 0.5 * max_fpr**2) / (1.0 - 0.5) * (scaled - 0.5)


@register_metric("logloss", direction="minimize", domain=_PROBA)
def logloss(y_true, y_pred, sample_weight=None):
    p = np.clip(_binary_proba(y_pred), _EPS, 1 - _EPS)
    return skm.log_loss(y_true, p, sample_weight=sample_weight, labels=[0, 1])


@register_metric("mlogloss", direction="minimize", domain=_PROBA_PRED)
def mlogloss(y_true, y_pred, sample_weight=None):
    p = np.clip(np.asarray(y_pred, dtype=float), _EPS, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    return skm.log_loss(y_true, p, sample_weight=sample_weight, labels=np.arange(p.shape[1]))


@register_metric("accuracy", direction="maximize", needs="label")
def accuracy(y_true, y_pred, sample_weight=None):
    return skm.accuracy_score(*_to_labels(y_true, y_pred), sample_weight=sample_weight)


@register_metric("f1", direction="maximize", needs="label")
def f1(y_true, y_pred, sample_weight=None):
    yt, yl = _to_labels(y_true, y_pred)
    return skm.f1_score(yt, yl, sample_weight=sample_weight, average=_average(yt, yl))


@register_metric("f1_micro", direction="maximize", needs="label")
def f1_micro(y_true, y_pred, sample_weight=None):
    return skm.f1_score(*_to_labels(y_true, y_pred), sample_weight=sample_weight, average="micro")


@register_metric("rmse", direction="minimize", needs="value")
def rmse(y_true, y_pred, sample_weight=None):
    return skm.root_mean_squared_error(y_true, y_pred, sample_weight=sample_weight)


@register_metric("rmsle", direction="minimize", needs="value", domain=Domain(low=-1.0, low_open=True))
def rmsle(y_true, y_pred, sample_weight=None):
    """RMSE of ``log1p`` values: targets and predictions must be > -1 (the runner clips predictions)."""
    return skm.root_mean_squared_log_error(y_true, y_pred, sample_weight=sample_weight)


@register_metric("mae", direction="minimize", needs="value")
def mae(y_true, y_pred, sample_weight=None):
    return skm.mean_absolute_error(y_true, y_pred, sample_weight=sample_weight)


@register_metric("r2", direction="maximize", needs="value")
def r2(y_true, y_pred, sample_weight=None):
    return skm.r2_score(y_true, y_pred, sample_weight=sample_weight)


@register_metric("qwk", direction="maximize", needs="label")
def qwk(y_true, y_pred, sample_weight=None):
    yt, yp = np.asarray(y_true), np.asarray(y_pred, dtype=float)
    if yp.ndim == 2:
        yl = yp.argmax(axis=1)
    else:  # regression output: nearest grade inside the observed range
        yl = np.clip(np.round(yp), yt.min(), yt.max()).astype(int)
    return skm.cohen_kappa_score(yt.astype(int), yl, weights="quadratic", sample_weight=sample_weight)


@register_metric("kl", direction="minimize", domain=_PROBA_PRED)
def kl(y_true, y_pred, sample_weight=None):
    """HMS-style KL(y_true || y_pred) per row, averaged (= torch KLDivLoss 'batchmean')."""
    p = np.clip(np.asarray(y_pred, dtype=float), _EPS, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    t = np.asarray(y_true, dtype=float)
    if t.ndim == 1:  # hard labels: one-hot them
        t = np.eye(p.shape[1])[t.astype(int)]
    return float(np.average(rel_entr(t, p).sum(axis=1), weights=sample_weight))


def _apk(actual, predicted, k: int) -> float:
    actual = set(actual)
    if not actual:
        return 0.0
    seen: set = set()
    hits, score = 0, 0.0
    for i, item in enumerate(list(predicted)[:k]):
        if item in actual and item not in seen:
            hits += 1
            score += hits / (i + 1)
        seen.add(item)
    return score / min(len(actual), k)


def _items(row) -> list:
    if isinstance(row, str):  # Kaggle submissions write "a b c"
        return row.split()
    return list(np.atleast_1d(row))


def _is_class_scores(y_true, y_pred) -> bool:
    """True for (n, K) float class probabilities against one integer class per row."""
    try:
        p, t = np.asarray(y_pred), np.asarray(y_true)
    except ValueError:  # ragged lists of items
        return False
    return p.ndim == 2 and p.dtype.kind == "f" and t.ndim == 1 and t.dtype.kind in "iu"


@register_metric("map@k", direction="maximize", needs="label")
def map_at_k(y_true, y_pred, sample_weight=None, k=10):
    """Mean average precision at ``k`` (Kaggle's ``mapk``).

    ``y_true[i]`` holds row i's relevant items (any order; a scalar means one item) and
    ``y_pred[i]`` its ranked predictions, best first; a string row is split on whitespace.
    Rows with no relevant items score 0. Class probabilities (a float (n, K) array with one
    class index per row in ``y_true``, as multiclass runs predict) rank the classes by probability.

    >>> map_at_k([[1, 2], [3]], [[1, 9, 2], [9, 3]], k=3)
    0.6666666666666666
    >>> map_at_k([2, 0], [[0.1, 0.3, 0.6], [0.2, 0.5, 0.3]], k=3)
    0.6666666666666666
    """
    if not isinstance(k, int) or k < 1:
        raise ConfigError("metric 'map@k' parameter 'k'", expected="a positive integer", found=repr(k))
    if len(y_true) != len(y_pred):
        raise ConfigError("metric 'map@k'", expected="y_true and y_pred with one row per sample",
                          found=f"{len(y_true)} and {len(y_pred)} rows")
    if _is_class_scores(y_true, y_pred):
        y_pred = np.argsort(-np.asarray(y_pred, dtype=float), axis=1, kind="stable")[:, :k]
    scores = [_apk(_items(a), _items(p), k) for a, p in zip(y_true, y_pred, strict=True)]
    return float(np.average(scores, weights=sample_weight))


# Ranking metrics of the recommender layer, known by name here without importing it (a higher
# layer): the first lookup of ``ndcg@k``/``recall@k`` imports the module, which registers them.
for _name in ("ndcg@k", "recall@k"):
    METRICS.register_lazy(_name, "medalist.recsys.metrics")
