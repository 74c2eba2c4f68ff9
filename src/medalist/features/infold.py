"""Per-fold blocks: features that look at the target, computed from one split's train rows only.

``target_encode`` replaces a category by the smoothed mean target of its train rows,
``(sum + m * prior) / (n + m)``. Valid and test rows get statistics from all of the split's train
rows. The train rows themselves are encoded out-of-fold with *inner folds taken from the same folds
file*: a train row of fold j gets statistics from the split's train rows outside fold j, so no row
ever sees its own label (nor, with group folds, its group's labels), and the model learns from
encodings as noisy as the ones it will be scored on. Inner statistics come from fewer rows, so their
smoothing is scaled by that share of rows: train and valid encodings are shrunk alike. Rows never
validated (fold -1, e.g. a time split's first block) form an inner fold of their own.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field

from medalist.features.base import (
    FeatureContext,
    Params,
    as_keys,
    key_name,
    register_block,
)

__all__ = ["TargetEncode", "target_encode", "target_matrix"]


class TargetEncode(Params):
    columns: list[str | list[str]]
    smoothing: float = Field(20.0, ge=0)
    columns_fields = ("columns",)


def target_matrix(frame: pl.DataFrame, ctx: FeatureContext) -> tuple[list[str], np.ndarray]:
    """Suffixes and (n, K) float targets to average: one per class (multiclass), per label, or the target.

    >>> ctx = FeatureContext(target=["y"], task="multiclass", classes=["a", "b"])
    >>> target_matrix(pl.DataFrame({"y": [0, 1]}), ctx)[1].tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    if ctx.task == "multiclass":
        y = frame.get_column(ctx.target[0]).to_numpy()
        classes = ctx.classes or sorted(set(y.tolist()))
        return [f"_{key_name([str(c)])}" for c in classes], (y[:, None] == np.arange(len(classes))[None, :]).astype(float)
    if ctx.task == "multilabel":
        return [f"_{key_name([t])}" for t in ctx.target], frame.select(ctx.target).to_numpy().astype(float)
    if ctx.task == "distribution":  # one average per class of the rows' vote fractions
        v = frame.select(ctx.target).to_numpy().astype(float)
        return [f"_{key_name([t])}" for t in ctx.target], v / v.sum(axis=1, keepdims=True)
    return [""], frame.get_column(ctx.target[0]).to_numpy().astype(float)[:, None]


def _stats(keys: pl.DataFrame, y: np.ndarray, by: list[str]) -> pl.DataFrame:
    ycols = [f"__y{j}" for j in range(y.shape[1])]
    frame = keys.with_columns([pl.Series(c, y[:, j]) for j, c in enumerate(ycols)])
    return frame.group_by(by).agg([pl.col(c).sum().alias(f"__s{j}") for j, c in enumerate(ycols)] + [pl.len().alias("__n")])


def _lookup(keys: pl.DataFrame, stats: pl.DataFrame, on: list[str]) -> pl.DataFrame:
    # nulls are a category of their own, as in group_by
    return keys.join(stats, on=on, how="left", maintain_order="left", nulls_equal=True)


@register_block("target_encode", TargetEncode, per_fold=True)
def target_encode(tr: pl.DataFrame, va: pl.DataFrame, te: pl.DataFrame, p: TargetEncode, ctx: FeatureContext,
                  inner: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Smoothed mean target per category: in-fold for valid/test rows, inner-fold OOF for train rows.

    ``inner`` is the fold label of each train row (its outer fold in the saved folds file).

    >>> tr = pl.DataFrame({"c": [0, 0, 1, 1], "y": [1, 1, 0, 1]})
    >>> va = pl.DataFrame({"c": [0]}); ctx = FeatureContext(target=["y"], task="binary")
    >>> out = target_encode(tr, va, va, TargetEncode(columns=["c"], smoothing=0), ctx, np.array([0, 1, 0, 1]))
    >>> out[1]["te_c"].to_list(), out[0]["te_c"].to_list()
    ([1.0], [1.0, 1.0, 1.0, 0.0])
    """
    suffixes, y = target_matrix(tr, ctx)
    m, K = p.smoothing, y.shape[1]
    inner = np.asarray(inner)
    prior = y.mean(axis=0) if len(y) else np.zeros(K)
    outs: list[dict[str, np.ndarray]] = [{}, {}, {}]
    for item in p.columns:
        by = as_keys(item)
        names = [f"te_{key_name(by)}{s}" for s in suffixes]
        full = _stats(tr.select(by), y, by)
        for i, frame in ((1, va), (2, te)):
            got = _lookup(frame.select(by), full, by)
            n = got.get_column("__n").fill_null(0).to_numpy().astype(float)
            for j, name in enumerate(names):
                s = got.get_column(f"__s{j}").fill_null(0).to_numpy()
                outs[i][name] = _smooth(s, n, m, prior[j])
        # train rows: statistics of the other inner folds = all train rows minus the row's own fold
        keys = tr.select(by).with_columns(pl.Series("__fold", inner))
        per_fold = _stats(keys, y, [*by, "__fold"]).rename({**{f"__s{j}": f"__f{j}" for j in range(K)}, "__n": "__fn"})
        got = _lookup(_lookup(keys, full, by), per_fold, [*by, "__fold"])
        n = (got.get_column("__n") - got.get_column("__fn")).to_numpy().astype(float)
        # inner statistics come from a share of the split's train rows; smoothing scaled by that share
        # shrinks train-row encodings as much as valid/test ones, so both have the same scale
        share = _inner_share(inner)
        for j, name in enumerate(names):
            s = (got.get_column(f"__s{j}") - got.get_column(f"__f{j}")).to_numpy()
            outs[0][name] = _smooth(s, n, m * share, _inner_prior(y[:, j], inner))
    return tuple(pl.DataFrame(o) if o else pl.DataFrame() for o in outs)  # type: ignore[return-value]


def _inner_share(inner: np.ndarray) -> np.ndarray:
    """Per train row, the share of train rows outside its inner fold."""
    _, idx, counts = np.unique(inner, return_inverse=True, return_counts=True)
    return (len(inner) - counts[idx]) / max(len(inner), 1)


def _inner_prior(y: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Per train row, the mean target of the train rows outside its inner fold."""
    labels, idx = np.unique(inner, return_inverse=True)
    tot, cnt = y.sum(), len(y)
    fs = np.bincount(idx, weights=y, minlength=len(labels))
    fc = np.bincount(idx, minlength=len(labels))
    with np.errstate(invalid="ignore", divide="ignore"):
        pri = np.where(cnt - fc > 0, (tot - fs) / np.maximum(cnt - fc, 1), tot / max(cnt, 1))
    return pri[idx]


def _smooth(s: np.ndarray, n: np.ndarray, m: float, prior: float | np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (s + m * prior) / (n + m)
    # unseen category with m = 0: nothing to average, fall back to the prior
    return np.where(n + m > 0, out, prior)
