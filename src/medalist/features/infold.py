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


def _key_stats(keys: pl.DataFrame, y: np.ndarray, inner: np.ndarray, by: list[str]) -> pl.LazyFrame:
    """Per category of ``by`` and inner fold, from one group_by over the train rows: the target sums
    and row count of the fold (``__f{j}``, ``__fn``) and of all folds (``__s{j}``, ``__n``: sums of the
    fold rows, exact for 0/1 targets and within a few ulps of a direct sum otherwise)."""
    K = y.shape[1]
    frame = keys.lazy().with_columns([pl.Series(f"__y{j}", y[:, j]) for j in range(K)] + [pl.Series("__fold", inner)])
    per_fold = frame.group_by([*by, "__fold"]).agg([pl.col(f"__y{j}").sum().alias(f"__f{j}") for j in range(K)] + [pl.len().alias("__fn")])
    full = per_fold.group_by(by).agg([pl.col(f"__f{j}").sum().alias(f"__s{j}") for j in range(K)] + [pl.col("__fn").sum().alias("__n")])
    return per_fold.join(full, on=by, how="left", nulls_equal=True)


def _lookup(keys: pl.DataFrame, stats: pl.DataFrame, on: list[str]) -> pl.DataFrame:
    # nulls are a category of their own, as in group_by
    return keys.join(stats, on=on, how="left", maintain_order="left", nulls_equal=True)


@register_block("target_encode", TargetEncode, per_fold=True)
def target_encode(tr: pl.DataFrame, va: pl.DataFrame, te: pl.DataFrame, p: TargetEncode, ctx: FeatureContext,
                  inner: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Smoothed mean target per category: in-fold for valid/test rows, inner-fold OOF for train rows.

    ``inner`` is the fold label of each train row (its outer fold in the saved folds file). Each key
    set's statistics come from one group_by over its categories x inner folds (the all-rows figures
    are sums of that small table); the key sets of the block are computed in one parallel Polars pass.

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
    # inner statistics come from a share of the split's train rows; smoothing scaled by that share
    # shrinks train-row encodings as much as valid/test ones, so both have the same scale
    share, priors = _inner_share(inner), [_inner_prior(y[:, j], inner) for j in range(K)]
    keysets = [as_keys(item) for item in p.columns]
    tables = pl.collect_all([_key_stats(tr.select(by), y, inner, by) for by in keysets], engine="in-memory")
    outs: list[dict[str, np.ndarray]] = [{}, {}, {}]
    for by, stats in zip(keysets, tables):
        names = [f"te_{key_name(by)}{s}" for s in suffixes]
        full = stats.select(*by, *[f"__s{j}" for j in range(K)], "__n").unique(by)
        for i, frame in ((1, va), (2, te)):
            got = _lookup(frame.select(by), full, by)
            n = got.get_column("__n").fill_null(0).to_numpy().astype(float)
            for j, name in enumerate(names):
                outs[i][name] = _smooth(got.get_column(f"__s{j}").fill_null(0).to_numpy(), n, m, prior[j])
        # train rows: statistics of the other inner folds = all train rows minus the row's own fold
        got = _lookup(tr.select(by).with_columns(pl.Series("__fold", inner)), stats, [*by, "__fold"])
        n = (got.get_column("__n") - got.get_column("__fn")).to_numpy().astype(float)
        for j, name in enumerate(names):
            s = (got.get_column(f"__s{j}") - got.get_column(f"__f{j}")).to_numpy()
            outs[0][name] = _smooth(s, n, m * share, priors[j])
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
