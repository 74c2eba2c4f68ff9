"""Soft (distribution) targets for models that only take hard class labels.

A ``task: distribution`` row carries a probability vector over K classes. :func:`expand_soft`
repeats each row once per class it has mass on, labelled with that class and weighted by the class's
fraction (times the row's own weight). Multiclass log loss on the expanded rows is then exactly the
weighted cross-entropy to the soft labels, i.e. KL(y || p) plus a constant that does not depend on
the model, so a library's native multiclass objective and its early stopping (``multi_logloss``,
``mlogloss``) optimise and track KL without a custom objective.
"""

from __future__ import annotations

import numpy as np
import polars as pl

__all__ = ["SOFT_LABEL", "expand_soft", "expand_frame"]

# The label column :func:`expand_frame` adds (a name no user column is expected to have).
SOFT_LABEL = "__medalist_soft_label"


def expand_soft(y: np.ndarray, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, hard labels and sample weights that turn soft targets ``y`` (n, K) into hard ones.

    ``y`` holds per-row fractions (rows summing to 1; they are renormalised here all the same);
    class entries with zero mass are dropped (they contribute nothing to the loss). Returns
    ``(rows, labels, weights)``: ``X[rows]`` with ``labels`` and ``weights`` is the expanded data.

    >>> rows, labels, weights = expand_soft(np.array([[0.75, 0.25], [0.0, 1.0]]))
    >>> rows.tolist(), labels.tolist(), weights.tolist()
    ([0, 0, 1], [0, 1, 1], [0.75, 0.25, 1.0])
    """
    y = np.asarray(y, dtype=np.float64)
    y = y / y.sum(axis=1, keepdims=True)
    if w is not None:
        y = y * np.asarray(w, dtype=np.float64)[:, None]
    rows, labels = np.nonzero(y > 0)
    return rows, labels, y[rows, labels]


def expand_frame(frame: pl.DataFrame, target: list[str], w: np.ndarray | None = None) -> tuple[pl.DataFrame, np.ndarray]:
    """``frame`` expanded by :func:`expand_soft` on its ``target`` columns, the class index in
    :data:`SOFT_LABEL`; returns the frame and the expanded sample weights.

    >>> f = pl.DataFrame({"x": [1.0, 2.0], "a": [3.0, 0.0], "b": [1.0, 2.0]})
    >>> out, w = expand_frame(f, ["a", "b"])
    >>> out["x"].to_list(), out[SOFT_LABEL].to_list(), w.tolist()
    ([1.0, 1.0, 2.0], [0, 1, 1], [0.75, 0.25, 1.0])
    """
    rows, labels, weights = expand_soft(frame.select(target).to_numpy(), w)
    return frame[rows].with_columns(pl.Series(SOFT_LABEL, labels, dtype=pl.Int64)), weights
