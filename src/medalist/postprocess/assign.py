"""Hungarian assignment with a max-cost cut-off, and box matching by IoU (NFL helmets: labels to detections)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medalist.core.errors import (
    ConfigError,
    DataError,
    did_you_mean,
)

__all__ = ["Assignment", "assign", "box_iou", "match_boxes"]


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
