"""Post-processing: the last few points of a score, each a small function with a CLI hook.

* :func:`assign` — Hungarian assignment over a cost matrix with a max-cost cut-off (NFL helmets:
  labels to detections), and :func:`match_boxes` on top of it by IoU;
* :func:`weighted_boxes_fusion` (ensemble-boxes) and :func:`soft_nms` for detection ensembles;
* :func:`smooth_temporal` — per-video moving average / median / max of per-frame predictions;
* :func:`search_threshold` — the OOF threshold that maximises F1, dice or any label metric
  (``medalist postprocess threshold``);
* :func:`gate_masks` — empty masks where a classifier says "no finding" (pneumothorax gold).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import (
    ConfigError,
    DataError,
    did_you_mean,
)
from medalist.core.optional import require

__all__ = [
    "Assignment", "assign", "box_iou", "match_boxes", "weighted_boxes_fusion", "soft_nms",
    "smooth_temporal", "ThresholdResult", "search_threshold", "dice_score", "gate_masks",
]


# ------------------------------------------------------------------------------ assignment
@dataclass(frozen=True)
class Assignment:
    """Matched ``rows[i]`` ↔ ``cols[i]`` with their ``costs``; ``total`` is their sum."""

    rows: np.ndarray
    cols: np.ndarray
    costs: np.ndarray

    @property
    def total(self) -> float:
        return float(self.costs.sum())

    def __len__(self) -> int:
        return len(self.rows)


def assign(cost, *, max_cost: float | None = None, maximize: bool = False, nan: str = "raise") -> Assignment:
    """Optimal one-to-one assignment (scipy's ``linear_sum_assignment``) with forbidden pairs.

    A pair is *forbidden* when its cost is ``inf`` (``-inf`` when maximising), NaN with
    ``nan="forbid"``, or worse than ``max_cost``. Forbidden pairs are never returned: the solver
    first maximises the number of allowed matches, then optimises their total cost — so a
    cut-off drops a bad match instead of forcing a worse one elsewhere. NaN with ``nan="raise"``
    (the default) is an error: a NaN cost is usually a bug upstream (a box of zero area).
    Rectangular matrices match min(n_rows, n_cols) pairs at most.

    >>> a = assign([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
    >>> a.rows.tolist(), a.cols.tolist(), a.total
    ([0, 1, 2], [1, 0, 2], 5.0)
    >>> assign([[1, 9], [9, 9]], max_cost=5).cols.tolist()
    [0]
    """
    from scipy.optimize import linear_sum_assignment

    if nan not in ("raise", "forbid"):
        raise ConfigError("assign nan", expected="'raise' or 'forbid'", found=f"'{nan}'{did_you_mean(nan, ['raise', 'forbid'])}")
    try:
        c = np.array(cost, dtype=float)
    except (TypeError, ValueError) as e:
        raise DataError("cost matrix", expected="a 2-D array of numbers", found=f"{type(cost).__name__}: {e}") from e
    if c.ndim != 2:
        raise DataError("cost matrix", expected="a 2-D array (rows x columns)", found=f"{c.ndim}-D shape {c.shape}")
    empty = np.array([], dtype=int)
    if c.size == 0:
        return Assignment(empty, empty, np.array([], dtype=float))
    isnan = np.isnan(c)
    if isnan.any() and nan == "raise":
        r, k = np.argwhere(isnan)[0]
        raise DataError("cost matrix", expected="no NaN costs", found=f"{int(isnan.sum())} NaN (first at row {r}, column {k})",
                        fix="fix the cost upstream, or pass nan='forbid' to treat NaN pairs as impossible")
    sign = -1.0 if maximize else 1.0
    work = sign * c  # minimise from here on
    forbidden = isnan | (work == np.inf)
    if max_cost is not None:
        forbidden |= (work > sign * max_cost) if not maximize else (c < max_cost)
    if (work == -np.inf).any():
        raise DataError("cost matrix", expected="finite costs, or +inf for impossible pairs",
                        found="-inf" if not maximize else "+inf while maximising", fix="use a finite value")
    allowed = work[~forbidden]
    if allowed.size == 0:
        return Assignment(empty, empty, np.array([], dtype=float))
    # Big-M: one forbidden pair must cost more than any full set of allowed pairs can save.
    span = float(allowed.max() - allowed.min()) if allowed.size else 0.0
    big = allowed.max() + (span + 1.0) * (min(c.shape) + 1)
    work = np.where(forbidden, big, work)
    r, k = linear_sum_assignment(work)
    ok = ~forbidden[r, k]
    r, k = r[ok], k[ok]
    return Assignment(r, k, c[r, k])


def box_iou(a, b) -> np.ndarray:
    """IoU between every box of ``a`` (n, 4) and of ``b`` (m, 4), boxes as ``x1, y1, x2, y2``.

    >>> box_iou([[0, 0, 2, 2]], [[1, 1, 3, 3], [0, 0, 2, 2]]).round(4).tolist()
    [[0.1429, 1.0]]
    """
    a, b = _boxes(a, "boxes a"), _boxes(b, "boxes b")
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def _boxes(x, where: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float).reshape(-1, 4) if np.size(x) else np.zeros((0, 4))
    if np.isnan(arr).any():
        raise DataError(where, expected="box coordinates without NaN", found=f"{int(np.isnan(arr).any(axis=1).sum())} boxes with NaN")
    if (arr[:, 2] < arr[:, 0]).any() or (arr[:, 3] < arr[:, 1]).any():
        raise DataError(where, expected="boxes as x1, y1, x2, y2 with x2 >= x1 and y2 >= y1",
                        found="a box with x2 < x1 or y2 < y1", fix="convert from x, y, w, h or fix the corner order")
    return arr


def match_boxes(pred, truth, *, min_iou: float = 0.5) -> Assignment:
    """Match predicted to true boxes one-to-one maximising total IoU; pairs below ``min_iou`` stay unmatched.

    ``costs`` of the result are the matched IoUs.

    >>> m = match_boxes([[0, 0, 2, 2], [5, 5, 6, 6]], [[0, 0, 2, 2.2]])
    >>> m.rows.tolist(), m.cols.tolist()
    ([0], [0])
    """
    iou = box_iou(pred, truth)
    return assign(iou, maximize=True, max_cost=min_iou)


# ------------------------------------------------------------------------------ detection ensembles
def weighted_boxes_fusion(boxes: Sequence, scores: Sequence, labels: Sequence, *, weights: Sequence[float] | None = None,
                          iou_thr: float = 0.55, skip_box_thr: float = 0.0, conf_type: str = "avg"):
    """Fuse the boxes of several models (one list entry per model) with ensemble-boxes' WBF.

    Boxes are ``x1, y1, x2, y2`` normalised to [0, 1]. Unlike the library (which prints a warning
    and clips), coordinates outside [0, 1] and mismatched lengths are errors here.

    >>> b, s, l = weighted_boxes_fusion([[[0.1, 0.1, 0.5, 0.5]], [[0.12, 0.1, 0.5, 0.52]]], [[0.9], [0.7]], [[0], [0]])
    >>> b.round(3).tolist(), s.round(3).tolist(), l.tolist()  # one box, averaged by score
    ([[0.109, 0.1, 0.5, 0.509]], [0.8], [0.0])
    """
    wbf = require("ensemble_boxes", extra="recsys", purpose="weighted boxes fusion",
                  package="ensemble-boxes").weighted_boxes_fusion
    if not (len(boxes) == len(scores) == len(labels)) or len(boxes) == 0:
        raise DataError("weighted_boxes_fusion", expected="one boxes/scores/labels list per model (same count, >= 1)",
                        found=f"{len(boxes)} boxes, {len(scores)} scores, {len(labels)} labels lists")
    if weights is not None and len(weights) != len(boxes):
        raise DataError("weighted_boxes_fusion weights", expected=f"{len(boxes)} weights (one per model)", found=f"{len(weights)}")
    bl, sl, ll = [], [], []
    for m, (b, s, lab) in enumerate(zip(boxes, scores, labels, strict=True)):
        arr = _boxes(b, f"model {m} boxes")
        if len(arr) != len(s) or len(arr) != len(lab):
            raise DataError(f"model {m}", expected="as many scores and labels as boxes", found=f"{len(arr)} boxes, {len(s)} scores, {len(lab)} labels")
        if len(arr) and (arr.min() < 0 or arr.max() > 1):
            raise DataError(f"model {m} boxes", expected="coordinates normalised to [0, 1]",
                            found=f"range [{arr.min():g}, {arr.max():g}]", fix="divide x by the image width and y by its height")
        bl.append(arr.tolist())
        sl.append(list(map(float, s)))
        ll.append(list(lab))
    return wbf(bl, sl, ll, weights=None if weights is None else list(weights), iou_thr=iou_thr,
               skip_box_thr=skip_box_thr, conf_type=conf_type)


_SOFT = ("gaussian", "linear", "hard")


def soft_nms(boxes, scores, *, labels=None, method: str = "gaussian", sigma: float = 0.5, iou_thr: float = 0.3,
             score_thr: float = 0.001) -> tuple[np.ndarray, np.ndarray]:
    """Soft-NMS (Bodla et al. 2017): decay, instead of drop, the scores of boxes overlapping a better one.

    Repeatedly takes the highest-scoring remaining box and multiplies every other box's score by
    ``exp(-iou² / sigma)`` (``gaussian``), ``1 - iou`` where ``iou > iou_thr`` (``linear``) or 0
    there (``hard`` = classic NMS). Boxes of different ``labels`` never suppress each other.
    Returns ``(keep, new_scores)``: indices into ``boxes`` of boxes whose decayed score stays
    above ``score_thr``, best first, and those decayed scores.

    >>> keep, s = soft_nms([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3]], [0.9, 0.8, 0.7], method="hard")
    >>> keep.tolist()
    [0, 2]
    """
    if method not in _SOFT:
        raise ConfigError("soft_nms method", expected="one of " + ", ".join(_SOFT), found=f"'{method}'{did_you_mean(method, _SOFT)}")
    b = _boxes(boxes, "soft_nms boxes")
    s = np.asarray(scores, dtype=float).copy()
    if len(s) != len(b):
        raise DataError("soft_nms", expected="one score per box", found=f"{len(b)} boxes, {len(s)} scores")
    lab = np.zeros(len(b)) if labels is None else np.asarray(labels)
    iou = box_iou(b, b)
    alive = np.ones(len(b), bool)
    keep: list[int] = []
    while alive.any():
        i = int(np.flatnonzero(alive)[np.argmax(s[alive])])
        alive[i] = False
        if s[i] <= score_thr:
            continue
        keep.append(i)
        others = alive & (lab == lab[i])
        ov = iou[i, others]
        if method == "gaussian":
            w = np.exp(-(ov**2) / sigma)
        else:
            w = np.where(ov > iou_thr, (1.0 - ov) if method == "linear" else 0.0, 1.0)
        s[others] *= w
    idx = np.array(keep, dtype=int)
    return idx, s[idx]


# ------------------------------------------------------------------------------ temporal smoothing
_SMOOTH = ("mean", "median", "max")


def smooth_temporal(frame: pl.DataFrame, cols: str | Sequence[str], *, by: str, order: str, window: int = 5,
                    center: bool = True, method: str = "mean") -> pl.DataFrame:
    """Smooth per-frame predictions over neighbouring frames of the same video.

    Rows are ordered by ``order`` within each ``by`` group; each value of ``cols`` becomes the
    ``method`` (mean, median, max) over a ``window`` of frames, centred (``center=True``, window
    odd) or trailing (only past frames: what a streaming model can use). Windows shrink at the
    ends of a video instead of padding. Row order of the input is kept.

    >>> df = pl.DataFrame({"v": [0] * 5, "f": range(5), "p": [0.0, 0, 1, 0, 0]})
    >>> smooth_temporal(df, "p", by="v", order="f", window=3)["p"].round(3).to_list()
    [0.0, 0.333, 0.333, 0.333, 0.0]
    """
    cols = [cols] if isinstance(cols, str) else list(cols)
    for c in [by, order, *cols]:
        if c not in frame.columns:
            raise DataError(f"smooth_temporal column '{c}'", expected="a column of the frame",
                            found=f"columns {frame.columns[:12]}{did_you_mean(c, frame.columns)}")
    if method not in _SMOOTH:
        raise ConfigError("smooth_temporal method", expected="one of " + ", ".join(_SMOOTH), found=f"'{method}'{did_you_mean(method, _SMOOTH)}")
    if not isinstance(window, int) or window < 1 or (center and window % 2 == 0):
        raise ConfigError("smooth_temporal window", expected="a positive integer (odd when centred)", found=repr(window),
                          fix=f"use window={window + 1 if isinstance(window, int) and window > 0 else 5}")
    dup = frame.select(pl.struct(by, order).is_duplicated().any()).item()
    if dup:
        raise DataError(f"smooth_temporal ({by}, {order})", expected="one row per frame of each video", found="duplicate frames",
                        fix="aggregate duplicate frames first")
    roll = {"mean": "rolling_mean", "median": "rolling_median", "max": "rolling_max"}[method]
    exprs = [getattr(pl.col(c).cast(pl.Float64), roll)(window_size=window, min_samples=1, center=center).over(by).alias(c) for c in cols]
    return (frame.with_row_index("__row").sort([by, order]).with_columns(exprs).sort("__row").drop("__row"))


# ------------------------------------------------------------------------------ thresholds
def dice_score(y_true, y_pred) -> float:
    """Mean per-sample dice of binary masks (n, ...); an empty true and empty predicted mask score 1.

    That convention is what makes gating pay: a false positive pixel on an empty image costs the
    whole sample (SIIM pneumothorax).

    >>> dice_score([[1, 1, 0, 0], [0, 0, 0, 0]], [[1, 0, 0, 0], [0, 0, 0, 0]])
    0.8333333333333333
    """
    t = np.asarray(y_true).astype(bool)
    p = np.asarray(y_pred).astype(bool)
    if t.shape != p.shape:
        raise DataError("dice", expected="true and predicted masks of one shape", found=f"{t.shape} and {p.shape}")
    t, p = t.reshape(len(t), -1), p.reshape(len(p), -1)
    inter = (t & p).sum(axis=1)
    total = t.sum(axis=1) + p.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(total == 0, 1.0, 2.0 * inter / np.maximum(total, 1))
    return float(d.mean())


@dataclass
class ThresholdResult:
    """The best threshold, its score, the score at the default 0.5, and the whole curve."""

    threshold: float
    score: float
    default_score: float
    curve: pl.DataFrame  # threshold, score
    metric: str

    def summary(self) -> dict[str, Any]:
        return {"metric": self.metric, "threshold": self.threshold, "score": self.score, "score_at_0.5": self.default_score}


def _threshold_metric(metric) -> tuple[str, Callable, bool]:
    if callable(metric) and not hasattr(metric, "direction"):
        return getattr(metric, "__name__", "custom"), metric, True
    if metric == "dice":
        return "dice", dice_score, True
    from medalist.metrics.library import get_metric

    m = get_metric(metric)
    if m.needs != "label":
        raise ConfigError(f"threshold metric '{m.name}'", expected="a metric of hard labels (f1, accuracy, qwk, dice…)",
                          found=f"one of {m.needs}s: thresholds cannot change it", fix="use --metric f1 or dice")
    return m.name, m, m.greater_is_better


def search_threshold(y_true, y_pred, metric: str | Callable = "f1", *, grid: Sequence[float] | None = None,
                     greater_is_better: bool | None = None) -> ThresholdResult:
    """Scan thresholds on OOF probabilities; return the one that scores best under ``metric``.

    ``metric`` is ``"dice"`` (masks), a medalist label metric name (``f1``, ``f1_micro``,
    ``accuracy``…) or ``fn(y_true, y_label) -> float``. ``grid`` defaults to 0.01 … 0.99. Pick
    the threshold on OOF and apply it to test: choosing it on the data you report overfits.

    >>> r = search_threshold([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4])
    >>> round(r.threshold, 2), r.score, r.default_score
    (0.21, 1.0, 0.0)
    """
    name, fn, gib = _threshold_metric(metric)
    if greater_is_better is not None:
        gib = greater_is_better
    yt, yp = np.asarray(y_true), np.asarray(y_pred, dtype=float)
    if yt.shape != yp.shape:
        raise DataError("search_threshold", expected="y_true and y_pred of one shape", found=f"{yt.shape} and {yp.shape}")
    if np.isnan(yp).any():
        raise DataError("search_threshold y_pred", expected="no NaN predictions", found=f"{int(np.isnan(yp).sum())} NaN",
                        fix="score only validated rows (drop rows whose OOF is NaN)")
    ts = np.round(np.arange(0.01, 1.0, 0.01), 4) if grid is None else np.asarray(sorted(grid), dtype=float)
    if ts.size == 0:
        raise ConfigError("search_threshold grid", expected="at least one threshold", found="an empty grid")
    scores = np.array([float(fn(yt, (yp >= t).astype(int))) for t in ts])
    best = int(np.argmax(scores) if gib else np.argmin(scores))
    default = float(fn(yt, (yp >= 0.5).astype(int)))
    return ThresholdResult(float(ts[best]), float(scores[best]), default, pl.DataFrame({"threshold": ts, "score": scores}), name)


def gate_masks(masks, proba, *, threshold: float = 0.5, min_area: int = 0) -> np.ndarray:
    """Empty each mask whose classifier probability is below ``threshold`` or whose area < ``min_area`` pixels.

    ``masks`` is (n, H, W) binary (or already thresholded), ``proba`` (n,) the classifier's
    "finding" probability — the pneumothorax recipe, where an empty mask on an empty image scores 1
    and any stray pixel scores 0.

    >>> gate_masks([[[1, 1]], [[1, 0]]], [0.9, 0.2]).tolist()
    [[[1, 1]], [[0, 0]]]
    """
    m = np.asarray(masks).copy()
    p = np.asarray(proba, dtype=float).reshape(-1)
    if m.ndim < 2 or len(m) != len(p):
        raise DataError("gate_masks", expected="masks (n, H, W) and one probability per mask", found=f"masks {m.shape}, proba {p.shape}")
    if np.isnan(p).any():
        raise DataError("gate_masks proba", expected="no NaN probabilities", found=f"{int(np.isnan(p).sum())} NaN")
    area = (m.reshape(len(m), -1) > 0).sum(axis=1)
    off = (p < threshold) | (area < min_area)
    m[off] = 0
    return m
