"""The OOF threshold that maximises F1, dice or any label metric, dice, and mask gating by a classifier."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import (
    ConfigError,
    DataError,
)

__all__ = ["ThresholdResult", "search_threshold", "dice_score", "gate_masks"]


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
    from medalist.metrics.registry import get_metric

    m = get_metric(metric)
    if m.needs != "label":
        raise ConfigError(f"threshold metric '{m.name}'", expected="a metric of hard labels (f1, mcc, accuracy, qwk, dice…)",
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
