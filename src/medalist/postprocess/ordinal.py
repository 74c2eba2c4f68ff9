"""Cut-points for threshold metrics, fitted on OOF and scored NESTED.

A regression model's output for an ordinal target (ISUP grade, diamond cut, review stars) scores
better under QWK when it is cut at fitted points than when it is rounded: the PANDA teams' "optimised
rounder". The same holds for one threshold under F1, MCC or dice. Cut-points chosen on the rows they
are scored on overfit, so :func:`nested_cutpoints` fits the cut-points for fold ``f`` on the other
folds' OOF rows and applies them to fold ``f``; that nested score is the honest CV, the in-sample one
is printed beside it.

The search starts from the rounding cut-points (``k + 0.5`` between neighbouring labels; ``0.5`` for
one binary threshold), sweeps each cut-point in turn over a grid between its neighbours (coordinate
search, a few passes) and polishes with Nelder-Mead (scipy); cut-points stay strictly increasing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medalist.core.errors import ConfigError, DataError
from medalist.postprocess.thresholds import _threshold_metric

__all__ = ["CutpointResult", "apply_cutpoints", "fit_cutpoints", "nested_cutpoints", "qwk_labels", "threshold_metric"]

_BINARY = ("f1", "mcc", "dice", "accuracy")


def _counts(y_true, y_label, sample_weight=None) -> tuple[float, float, float, float]:
    t, p = np.asarray(y_true).astype(bool), np.asarray(y_label).astype(bool)
    w = np.ones(len(t)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    return float(w[t & p].sum()), float(w[~t & p].sum()), float(w[t & ~p].sum()), float(w[~t & ~p].sum())


def _f1(y_true, y_label, sample_weight=None) -> float:
    tp, fp, fn, _ = _counts(y_true, y_label, sample_weight)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _mcc(y_true, y_label, sample_weight=None) -> float:
    tp, fp, fn, tn = _counts(y_true, y_label, sample_weight)
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / den) if den else 0.0


def _dice1(y_true, y_label, sample_weight=None) -> float:
    t, p = np.asarray(y_true).astype(bool), np.asarray(y_label).astype(bool)
    total = t.sum() + p.sum()
    return 1.0 if total == 0 else float(2.0 * (t & p).sum() / total)


def qwk_labels(y_true, y_label, sample_weight=None) -> float:
    """Quadratic weighted kappa of integer labels (= sklearn's ``cohen_kappa_score(weights="quadratic")``,
    from one confusion matrix: fast enough to call thousands of times in a cut-point search).

    >>> round(qwk_labels([0, 1, 2, 2], [0, 2, 2, 1]), 6)
    0.636364
    """
    yt, yp = np.asarray(y_true).astype(np.int64), np.asarray(y_label).astype(np.int64)
    lo = min(int(yt.min()), int(yp.min()))
    yt, yp = yt - lo, yp - lo
    k = int(max(yt.max(), yp.max())) + 1
    w = np.ones(len(yt)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    cm = np.bincount(yt * k + yp, weights=w, minlength=k * k).reshape(k, k)
    total = cm.sum()
    expected = np.outer(cm.sum(axis=1), cm.sum(axis=0)) / total
    idx = np.arange(k)
    wq = (idx[:, None] - idx[None, :]) ** 2
    den = float((wq * expected).sum())
    return 1.0 - float((wq * cm).sum()) / den if den else 0.0


def threshold_metric(metric: str | Callable) -> tuple[str, Callable, bool]:
    """``(name, fn(y_true, y_label) -> float, greater_is_better)`` of a metric on hard labels.

    ``mcc`` (Matthews) and ``dice`` (of the positive class over all rows) are known here; ``qwk`` and
    binary 0/1 ``f1`` are computed from counts (the same values as the registry's, much faster in a
    search); other names come from the metric registry and must score labels (``accuracy``…).
    """
    if callable(metric) and not hasattr(metric, "direction"):
        return getattr(metric, "__name__", "custom"), metric, True
    if metric == "qwk":
        return "qwk", qwk_labels, True
    if metric == "f1":
        return "f1", _f1, True
    if metric == "mcc":
        return "mcc", _mcc, True
    if metric == "dice":
        return "dice", _dice1, True
    return _threshold_metric(metric)


def apply_cutpoints(pred, cuts: Sequence[float], labels: Sequence[Any] | None = None) -> np.ndarray:
    """Label of each prediction: ``labels[i]`` for values in ``[cuts[i-1], cuts[i])``.

    ``labels`` defaults to ``0 … len(cuts)``.

    >>> apply_cutpoints([0.2, 0.7, 1.6, 3.1], [0.5, 1.5, 2.5]).tolist()
    [0, 1, 2, 3]
    >>> apply_cutpoints([0.2, 0.7], [0.6], labels=["no", "yes"]).tolist()
    ['no', 'yes']
    """
    c = np.asarray(cuts, dtype=float)
    lab = np.arange(len(c) + 1) if labels is None else np.asarray(labels)
    if len(lab) != len(c) + 1:
        raise ConfigError("cut-points", expected=f"one label more than cut-points ({len(c) + 1})", found=f"{len(lab)} labels")
    return lab[np.searchsorted(c, np.asarray(pred, dtype=float), side="right")]


def _score(fn: Callable, y, pred, cuts, labels) -> float:
    return float(fn(y, apply_cutpoints(pred, cuts, labels)))


def _coordinate(fn, y, pred, cuts, labels, sign, grid_size: int, passes: int) -> np.ndarray:
    cuts = cuts.copy()
    lo_all, hi_all = float(np.min(pred)), float(np.max(pred))
    for _ in range(passes):
        before = cuts.copy()
        for i in range(len(cuts)):
            lo = cuts[i - 1] if i > 0 else min(lo_all, cuts[i]) - 1e-9
            hi = cuts[i + 1] if i + 1 < len(cuts) else max(hi_all, cuts[i]) + 1e-9
            cand = np.unique(np.concatenate([np.linspace(lo, hi, grid_size + 2)[1:-1], [cuts[i]]]))
            vals = []
            for v in cand:
                cuts[i] = v
                vals.append(sign * _score(fn, y, pred, cuts, labels))
            cuts[i] = cand[int(np.argmax(vals))]
        if np.allclose(before, cuts):
            break
    return cuts


def fit_cutpoints(y_true, pred, metric: str | Callable = "qwk", *, labels: Sequence[Any] | None = None,
                  init: Sequence[float] | None = None, grid_size: int = 30, passes: int = 3,
                  nelder_mead: bool = True) -> np.ndarray:
    """Increasing cut-points of ``pred`` that score best under ``metric`` against ``y_true``.

    ``labels`` (sorted) are the classes the cut-points separate (default: the sorted unique values
    of ``y_true``); ``init`` defaults to the rounding cut-points (midpoints of neighbouring labels,
    or ``0.5`` for binary 0/1). Never worse than ``init`` on the rows it is fitted on.

    >>> y = np.array([0, 0, 1, 1, 2, 2])
    >>> pred = [0.1, 0.2, 0.3, 0.4, 1.2, 1.3]  # rounding gives [0, 0, 0, 0, 1, 1]
    >>> apply_cutpoints(pred, fit_cutpoints(y, pred)).tolist()
    [0, 0, 1, 1, 2, 2]
    """
    _, fn, gib = threshold_metric(metric)
    y, p = np.asarray(y_true), np.asarray(pred, dtype=float).reshape(-1)
    if len(y) != len(p):
        raise DataError("fit_cutpoints", expected="one prediction per label", found=f"{len(y)} labels, {len(p)} predictions")
    if np.isnan(p).any():
        raise DataError("fit_cutpoints pred", expected="no NaN predictions", found=f"{int(np.isnan(p).sum())} NaN",
                        fix="fit on validated rows only")
    lab = np.sort(np.unique(y)) if labels is None else np.asarray(labels)
    if len(lab) < 2:
        raise DataError("fit_cutpoints y_true", expected="at least two classes", found=f"{len(lab)}")
    if init is None:
        num = np.asarray(lab, dtype=float) if np.issubdtype(lab.dtype, np.number) else np.arange(len(lab), dtype=float)
        init = (num[:-1] + num[1:]) / 2
    cuts = np.sort(np.asarray(init, dtype=float))
    sign = 1.0 if gib else -1.0
    start = sign * _score(fn, y, p, cuts, lab)
    cuts = _coordinate(fn, y, p, cuts, lab, sign, grid_size, passes)
    if nelder_mead:
        from scipy.optimize import minimize

        res = minimize(lambda c: -sign * _score(fn, y, p, np.sort(c), lab), cuts, method="Nelder-Mead",
                       options={"xatol": 1e-4, "fatol": 1e-7, "maxiter": 200 * len(cuts)})
        polished = np.sort(res.x)
        if sign * _score(fn, y, p, polished, lab) > sign * _score(fn, y, p, cuts, lab):
            cuts = polished
    if sign * _score(fn, y, p, cuts, lab) < start:  # cannot happen with the sweeps above; kept as a guard
        cuts = np.sort(np.asarray(init, dtype=float))
    return cuts


@dataclass
class CutpointResult:
    """Nested and in-sample scores of fitted cut-points, against plain rounding."""

    metric: str
    labels: list[Any]
    cutpoints: list[float]  # fitted on every OOF row: apply these to test
    fold_cutpoints: dict[int, list[float]]  # fold -> cut-points fitted on the other folds
    nested_score: float  # the honest CV: each fold cut with cut-points it did not see
    in_sample_score: float  # OOF cut with `cutpoints` (fitted on the same rows: optimistic)
    rounding_score: float  # OOF cut at the initial (rounding) cut-points
    nested_labels: np.ndarray = field(repr=False)  # per OOF row, labels from its fold's cut-points

    def summary(self) -> dict[str, Any]:
        return {"metric": self.metric, "labels": self.labels, "cutpoints": self.cutpoints,
                "fold_cutpoints": {str(k): v for k, v in self.fold_cutpoints.items()},
                "nested_score": self.nested_score, "in_sample_score": self.in_sample_score,
                "rounding_score": self.rounding_score, "gain_over_rounding": self.nested_score - self.rounding_score}


def nested_cutpoints(y_true, pred, folds, metric: str | Callable = "qwk", *, labels: Sequence[Any] | None = None,
                     **fit: Any) -> CutpointResult:
    """Cut-points for each fold fitted on the other folds' rows; scores nested, in-sample and rounded.

    ``folds`` gives each row's validation fold (the OOF ``fold`` column). ``fit`` goes to
    :func:`fit_cutpoints` (``grid_size``, ``passes``, ``nelder_mead``, ``init``).
    """
    name, fn, _ = threshold_metric(metric)
    y, p, f = np.asarray(y_true), np.asarray(pred, dtype=float).reshape(-1), np.asarray(folds)
    if not (len(y) == len(p) == len(f)):
        raise DataError("nested_cutpoints", expected="y_true, pred and folds of one length",
                        found=f"{len(y)}, {len(p)}, {len(f)}")
    lab = np.sort(np.unique(y)) if labels is None else np.asarray(labels)
    uniq = np.unique(f)
    if len(uniq) < 2:
        raise DataError("nested_cutpoints folds", expected="at least two folds", found=f"{len(uniq)}")
    nested = np.empty(len(y), dtype=lab.dtype)
    per_fold: dict[int, list[float]] = {}
    for k in uniq:
        tr = f != k
        c = fit_cutpoints(y[tr], p[tr], fn, labels=lab, **fit)
        per_fold[int(k)] = [float(v) for v in c]
        nested[~tr] = apply_cutpoints(p[~tr], c, lab)
    full = fit_cutpoints(y, p, fn, labels=lab, **fit)
    num = np.asarray(lab, dtype=float) if np.issubdtype(lab.dtype, np.number) else np.arange(len(lab), dtype=float)
    init = fit.get("init")
    rounding = np.asarray(init, dtype=float) if init is not None else (num[:-1] + num[1:]) / 2
    return CutpointResult(
        metric=name, labels=[v.item() if hasattr(v, "item") else v for v in lab], cutpoints=[float(v) for v in full],
        fold_cutpoints=per_fold, nested_score=float(fn(y, nested)),
        in_sample_score=_score(fn, y, p, full, lab), rounding_score=_score(fn, y, p, rounding, lab),
        nested_labels=nested,
    )
