"""Mask metrics (per-image dice with "empty on empty = 1", global dice, IoU), small-component removal
and the nested search of (pixel threshold, min component area) on OOF mask probabilities.

>>> t = np.array([[[1, 1], [0, 0]], [[0, 0], [0, 0]]])
>>> p = np.array([[[1, 0], [0, 0]], [[0, 0], [0, 0]]])
>>> dice_per_image(t, p).tolist(), round(global_dice(t, p), 4), round(iou(t, p), 4)
([0.6666666666666666, 1.0], 0.6667, 0.75)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medalist.core.errors import DataError

__all__ = ["MaskThresholdResult", "binarize", "dice_per_image", "global_dice", "iou", "remove_small", "search_mask_threshold"]


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true).astype(bool), np.asarray(y_pred).astype(bool)
    if t.shape != p.shape:
        raise DataError("masks", expected="true and predicted masks of one shape (n, H, W)", found=f"{t.shape} and {p.shape}")
    return t.reshape(len(t), -1), p.reshape(len(p), -1)


def dice_per_image(y_true, y_pred) -> np.ndarray:
    """Dice of each image's masks; an empty prediction on an empty truth scores 1 (SIIM's rule)."""
    t, p = _pair(y_true, y_pred)
    inter = (t & p).sum(1)
    total = t.sum(1) + p.sum(1)
    return np.where(total == 0, 1.0, 2.0 * inter / np.maximum(total, 1))


def global_dice(y_true, y_pred) -> float:
    """Dice over all pixels of all images at once (1.0 when every mask is empty)."""
    t, p = _pair(y_true, y_pred)
    total = t.sum() + p.sum()
    return 1.0 if total == 0 else float(2.0 * (t & p).sum() / total)


def iou(y_true, y_pred) -> float:
    """Mean per-image intersection over union, empty on empty = 1."""
    t, p = _pair(y_true, y_pred)
    union = (t | p).sum(1)
    return float(np.where(union == 0, 1.0, (t & p).sum(1) / np.maximum(union, 1)).mean())


def remove_small(masks, min_area: int) -> np.ndarray:
    """Binary masks (n, H, W) without connected components (8-connected) smaller than ``min_area`` pixels."""
    m = np.asarray(masks).astype(bool)
    if min_area <= 1:
        return m
    from scipy import ndimage

    out = np.zeros_like(m)
    structure = np.ones((3, 3), dtype=bool)
    for i in range(len(m)):
        if not m[i].any():
            continue
        lab, n = ndimage.label(m[i], structure=structure)
        sizes = np.bincount(lab.ravel(), minlength=n + 1)
        keep = sizes >= min_area
        keep[0] = False
        out[i] = keep[lab]
    return out


def binarize(probs, threshold: float, min_area: int = 0) -> np.ndarray:
    """Probabilities (n, H, W; floats in [0, 1] or uint8 0–255) → binary masks at ``threshold``, small parts removed."""
    p = np.asarray(probs)
    if p.dtype == np.uint8:
        p = p.astype(np.float32) / 255.0
    return remove_small(p >= threshold, min_area)


def _grid_scores(y: np.ndarray, probs: np.ndarray, thresholds: Sequence[float], areas: Sequence[int]) -> np.ndarray:
    """(len(thresholds), len(areas), n) per-image dice."""
    out = np.empty((len(thresholds), len(areas), len(y)))
    for i, t in enumerate(thresholds):
        for j, a in enumerate(areas):
            out[i, j] = dice_per_image(y, binarize(probs, t, a))
    return out


@dataclass
class MaskThresholdResult:
    """The (gate, threshold, min area) chosen on all OOF rows, its in-sample dice, and the nested dice:
    each fold cut by the triple chosen on the other folds (the honest estimate). ``gate`` is the
    classifier probability under which a mask is emptied (0: no gating)."""

    threshold: float
    min_area: int
    in_sample: float
    nested: float
    default: float  # dice at threshold 0.5, min area 0, no gate
    gate: float = 0.0
    per_fold: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"gate": self.gate, "threshold": self.threshold, "min_area": self.min_area, "dice_in_sample": self.in_sample,
                "dice_nested": self.nested, "dice_at_0.5": self.default, "per_fold": self.per_fold}


def search_mask_threshold(y_true, probs, folds=None, *, thresholds: Sequence[float] = (0.3, 0.4, 0.5, 0.6, 0.7),
                          areas: Sequence[int] = (0, 4, 16, 32, 64), classifier=None,
                          gates: Sequence[float] = (0.0,)) -> MaskThresholdResult:
    """Grid search of (gate, pixel threshold, min component area) maximising mean per-image dice on
    OOF masks; with ``folds`` (a fold number per row) also the nested score, each fold cut by the
    triple chosen on the others — report that one, the in-sample best is optimistic. ``classifier``
    (n,) probabilities with ``gates`` empty every mask whose probability is under the gate
    (pneumothorax: the classifier decides, the segmenter draws).

    >>> y = np.zeros((4, 4, 4), np.uint8); y[:2, :2, :2] = 1
    >>> pr = np.where(y > 0, 0.8, 0.1); pr[2, 3, 3] = 0.55  # one stray pixel on an empty image
    >>> r = search_mask_threshold(y, pr, [0, 0, 1, 1], thresholds=[0.5, 0.6], areas=[0, 2])
    >>> r.in_sample, r.default
    (1.0, 0.75)
    >>> search_mask_threshold(y, pr, thresholds=[0.5], areas=[0], classifier=[0.9, 0.9, 0.1, 0.2], gates=[0, 0.5]).gate
    0.5
    """
    y = np.asarray(y_true).astype(bool)
    p = np.asarray(probs)
    if y.shape != p.shape:
        raise DataError("OOF masks", expected=f"one probability map per true mask, shape {y.shape}", found=f"{p.shape}")
    gates = list(gates) if classifier is not None else [0.0]
    c = np.ones(len(y)) if classifier is None else np.asarray(classifier, dtype=float).reshape(-1)
    if len(c) != len(y):
        raise DataError("classifier probabilities", expected=f"one per OOF mask ({len(y)})", found=f"{len(c)}")
    base = _grid_scores(y, p, list(thresholds), list(areas))  # (T, A, n) ungated
    empty = (~y.reshape(len(y), -1).any(1)).astype(float)  # a gated-off image scores 1 when its truth is empty
    scores = np.stack([np.where(c >= g, base, empty) for g in gates])  # (G, T, A, n)
    mean = scores.mean(3)
    g, i, j = np.unravel_index(int(np.argmax(mean)), mean.shape)
    default = float(dice_per_image(y, binarize(p, 0.5, 0)).mean())
    nested, per_fold = float(mean[g, i, j]), []
    if folds is not None:
        f = np.asarray(folds)
        if len(f) != len(y):
            raise DataError("folds", expected=f"one fold per OOF mask ({len(y)})", found=f"{len(f)}")
        got = np.empty(len(y))
        for k in np.unique(f):
            rest = scores[..., f != k].mean(3) if (f != k).any() else mean
            a, b, d = np.unravel_index(int(np.argmax(rest)), rest.shape)
            got[f == k] = scores[a, b, d, f == k]
            per_fold.append({"fold": int(k), "gate": float(gates[a]), "threshold": float(thresholds[b]), "min_area": int(areas[d]),
                             "dice": float(scores[a, b, d, f == k].mean())})
        nested = float(got.mean())
    return MaskThresholdResult(float(thresholds[i]), int(areas[j]), float(mean[g, i, j]), nested, default, float(gates[g]), per_fold)
