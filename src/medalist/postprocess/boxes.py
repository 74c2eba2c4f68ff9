"""Detection ensembles: weighted boxes fusion and soft-NMS (ensemble-boxes)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medalist.core.errors import (
    ConfigError,
    DataError,
    did_you_mean,
)
from medalist.core.optional import require
from medalist.postprocess.assign import _boxes, box_iou

__all__ = ["weighted_boxes_fusion", "soft_nms"]


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
