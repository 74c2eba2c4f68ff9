"""The static blocks as Polars expressions, and the one lazy query that computes a run of them.

Each function here is a block's ``exprs`` form (:func:`~medalist.features.base.register_exprs`): the
same columns, names, dtypes and values as the block's eager function, as expressions. Window
statistics go through ``shared`` so that one statistic several outputs (or blocks) use is computed
once, and all windows of a run of blocks sit in one ``with_columns``: Polars groups the rows by each
key set once for all of them. Inputs a block's expressions cannot express (text dates, SQL that
aggregates, a missing time column) return ``None``: the eager function runs and reports them.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from medalist.features.base import FeatureContext, as_keys, key_name, register_exprs
from medalist.features.blocks import (
    _AGG,
    _PARTS,
    CountEncode,
    DateParts,
    Expr,
    GroupAgg,
    GroupDeviation,
    Lag,
    RankInGroup,
    _float,
)

__all__ = ["Shared", "fused_query"]

Share = Callable[[pl.Expr], pl.Expr]


class Shared:
    """Window statistics as columns ``__w0``, ``__w1``, … of one ``with_columns``, each computed once.

    Formulas then read them as plain columns: Polars evaluates a window nested inside a formula
    (``(x - x.mean().over(k)) / x.std().over(k)``) about twice as slowly as the same windows at the
    top of a ``with_columns`` followed by the formula over their columns, and a statistic several
    outputs or blocks use is computed once.

    >>> sh = Shared(); a = sh(pl.col("x").mean().over("k")); b = sh(pl.col("x").mean().over("k"))
    >>> a.meta.output_name(), b.meta.output_name(), len(sh.exprs)
    ('__w0', '__w0', 1)
    """

    def __init__(self) -> None:
        self._names: dict[bytes, str] = {}
        self.exprs: list[pl.Expr] = []

    def __call__(self, expr: pl.Expr) -> pl.Expr:
        key = expr.meta.serialize()
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = f"__w{len(self.exprs)}"
            self.exprs.append(expr.alias(name))
        return pl.col(name)


def fused_query(frame: pl.DataFrame | pl.LazyFrame, exprs: list[pl.Expr], shared: Shared) -> pl.LazyFrame:
    """One lazy query: every shared window in one ``with_columns``, then the outputs in one ``select``."""
    lf = frame.lazy()
    if shared.exprs:
        lf = lf.with_columns(shared.exprs)
    return lf.select(exprs)


@register_exprs("group_agg")
def group_agg_exprs(frame: pl.DataFrame, p: GroupAgg, ctx: FeatureContext, shared: Share) -> list[pl.Expr]:
    return [
        shared(_AGG[s](c).over(as_keys(key))).alias(f"grp_{s}_{key_name([c])}_by_{key_name(as_keys(key))}")
        for key in p.by for c in p.columns for s in p.stats
    ]


@register_exprs("group_deviation")
def group_deviation_exprs(frame: pl.DataFrame, p: GroupDeviation, ctx: FeatureContext, shared: Share) -> list[pl.Expr]:
    out = []
    for key in p.by:
        keys = as_keys(key)
        for c in p.columns:
            x, mean = _float(c), shared(_float(c).mean().over(keys))
            # a zero mean or spread has no ratio/z: null, not inf
            forms = {"diff": x - mean, "ratio": pl.when(mean != 0).then(x / mean)}
            if "z" in p.how:
                std = shared(_float(c).std().over(keys))
                forms["z"] = pl.when(std > 0).then((x - mean) / std)
            out += [forms[h].alias(f"dev_{h}_{key_name([c])}_by_{key_name(keys)}") for h in p.how]
    return out


@register_exprs("rank_in_group")
def rank_in_group_exprs(frame: pl.DataFrame, p: RankInGroup, ctx: FeatureContext, shared: Share) -> list[pl.Expr]:
    # shared like the other windows: in the first with_columns Polars groups the rows by each key set once for
    # every window over it (inline in the select, each rank re-grouped its keys: military 0.55 s -> 0.39 s)
    return [
        shared((pl.col(c).rank("average") / pl.col(c).count()).over(as_keys(key)))
        .alias(f"rank_{key_name([c])}_by_{key_name(as_keys(key))}")
        for key in p.by for c in p.columns
    ]


@register_exprs("count_encode")
def count_encode_exprs(frame: pl.DataFrame, p: CountEncode, ctx: FeatureContext, shared: Share) -> list[pl.Expr]:
    return [shared(pl.len().over(as_keys(k))).cast(pl.Int64).alias(f"cnt_{key_name(as_keys(k))}") for k in p.columns]


@register_exprs("lag")
def lag_exprs(frame: pl.DataFrame, p: Lag, ctx: FeatureContext, shared: Share) -> list[pl.Expr] | None:
    time = p.time or ctx.time
    if time is None or time not in frame.columns:
        return None
    out = []
    for c in p.columns:
        for n in p.n:
            shifted = shared(_float(c).shift(n).over(p.by, order_by=time))
            name = f"{key_name([c])}_by_{key_name(p.by)}"
            out.append(shifted.alias(f"lag{n}_{name}"))
            if p.diff:
                out.append((_float(c) - shifted).alias(f"diff{n}_{name}"))
    return out


@register_exprs("date_parts")
def date_parts_exprs(frame: pl.DataFrame, p: DateParts, ctx: FeatureContext, shared: Share) -> list[pl.Expr] | None:
    dtype = frame.schema.get(p.column)
    if dtype is None or p.column in ctx.categories:
        return None  # text (or category codes of text) is parsed and checked eagerly
    if dtype in (pl.Date, pl.Datetime):
        dt = pl.col(p.column)
    elif dtype.is_numeric() and p.unit in ("d", "ms", "us", "ns"):
        ints = pl.col(p.column).cast(pl.Int64)
        dt = (ints * 86_400_000_000).cast(pl.Datetime("us")) if p.unit == "d" else ints.cast(pl.Datetime(p.unit))
    else:
        return None
    return [_PARTS[part](dt).cast(pl.Int32).alias(f"{key_name([p.column])}_{part}") for part in p.parts]


@register_exprs("expr")
def expr_exprs(frame: pl.DataFrame, p: Expr, ctx: FeatureContext, shared: Share) -> list[pl.Expr] | None:
    try:
        e = pl.sql_expr(p.sql).alias(p.name)
        roots = e.meta.root_names()
    except Exception:  # the eager block reports the bad expression
        return None
    if any(c in ctx.target or c not in frame.columns for c in roots) or frame.height < 2:
        return None
    try:  # an aggregate (one value, not one per row) is refused by the eager block
        if frame.head(2).select(e).height != 2:
            return None
    except Exception:
        return None
    return [e]
