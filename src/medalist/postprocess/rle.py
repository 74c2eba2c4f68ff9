"""Run-length encoding of binary masks in Kaggle's convention, and dice scored on RLE strings.

Kaggle's RLE lists ``start length`` pairs over the pixels numbered 1, 2, … **column by column**
(down the first column, then the next: Fortran order, ``mask.T.flatten()``); an empty mask is
``"-1"`` (SIIM pneumothorax) or an empty string. ``order="C"`` reads rows first (some competitions).

>>> m = np.array([[0, 1], [1, 1]], dtype=np.uint8)
>>> rle_encode(m)
'2 3'
>>> rle_encode(m, order="C")
'2 3'
>>> rle_encode(np.array([[1, 0], [1, 0]]))
'1 2'
>>> rle_decode("1 2", (2, 2)).tolist()
[[1, 0], [1, 0]]
>>> int(rle_decode("-1", (2, 2)).sum())
0
"""

from __future__ import annotations

import numpy as np

from medalist.core.errors import DataError

__all__ = ["EMPTY_RLE", "rle_decode", "rle_dice", "rle_encode"]

EMPTY_RLE = "-1"


def rle_encode(mask, *, order: str = "F", empty: str = EMPTY_RLE) -> str:
    """A binary mask (H, W) as Kaggle RLE (1-based ``start length`` pairs, ``order`` F: column-major)."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise DataError("rle_encode", expected="one 2-D mask (H, W)", found=f"an array of shape {m.shape}")
    flat = (m.flatten(order=order) > 0).astype(np.int8)
    if not flat.any():
        return empty
    padded = np.concatenate([[0], flat, [0]])
    edges = np.flatnonzero(padded[1:] != padded[:-1]) + 1  # 1-based starts and (end + 1)s, alternating
    starts, ends = edges[0::2], edges[1::2]
    return " ".join(f"{s} {e - s}" for s, e in zip(starts, ends))


def _runs(rle: str | None, where: str) -> tuple[np.ndarray, np.ndarray]:
    s = "" if rle is None else str(rle).strip()
    if s in ("", "-1", "nan", "None"):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    try:
        v = np.array(s.split(), dtype=np.int64)
    except ValueError:
        raise DataError(where, expected="RLE: space-separated integers 'start length …' (or -1 for empty)",
                        found=f"{s[:60]!r}") from None
    if len(v) % 2:
        raise DataError(where, expected="RLE: pairs 'start length'", found=f"an odd count of numbers ({len(v)})")
    starts, lengths = v[0::2], v[1::2]
    if (starts < 1).any() or (lengths < 1).any():
        raise DataError(where, expected="RLE starts >= 1 and lengths >= 1", found=f"{s[:60]!r}")
    return starts, lengths


def rle_decode(rle: str | None, shape: tuple[int, int], *, order: str = "F", where: str = "RLE") -> np.ndarray:
    """The (H, W) uint8 mask of ``rle``; a run past the last pixel is a DataError naming ``where``.

    >>> rle_decode("3 5", (2, 2))
    Traceback (most recent call last):
    ...
    medalist.core.errors.DataError: RLE: expected runs inside the 2x2 image (4 pixels), found run '3 5' ends at pixel 7
    """
    h, w = int(shape[0]), int(shape[1])
    starts, lengths = _runs(rle, where)
    flat = np.zeros(h * w, dtype=np.uint8)
    if len(starts):
        ends = starts + lengths - 1
        bad = np.flatnonzero(ends > h * w)
        if len(bad):
            i = int(bad[0])
            raise DataError(where, expected=f"runs inside the {h}x{w} image ({h * w} pixels)",
                            found=f"run '{starts[i]} {lengths[i]}' ends at pixel {ends[i]}")
        for s, n in zip(starts, lengths):
            flat[s - 1: s - 1 + n] = 1
    return flat.reshape((h, w), order=order)


def rle_dice(truth: str | None, pred: str | None) -> float:
    """Dice of two RLE masks of one image (same convention), 1.0 when both are empty; no image size needed.

    >>> rle_dice("1 4", "3 4"), rle_dice("-1", ""), rle_dice("-1", "1 1")
    (0.5, 1.0, 0.0)
    """
    a, b = _runs(truth, "RLE (truth)"), _runs(pred, "RLE (prediction)")
    pa = np.concatenate([np.arange(s, s + n) for s, n in zip(*a)]) if len(a[0]) else np.empty(0, np.int64)
    pb = np.concatenate([np.arange(s, s + n) for s, n in zip(*b)]) if len(b[0]) else np.empty(0, np.int64)
    pa, pb = np.unique(pa), np.unique(pb)
    total = len(pa) + len(pb)
    if total == 0:
        return 1.0
    return float(2.0 * len(np.intersect1d(pa, pb, assume_unique=True)) / total)
