"""Execution of a plan's steps: the static blocks on train+test stacked (through the cache), the
per-fold blocks inside one split, and the encoding of text outputs as category codes.

Static blocks that have a Polars-expression form are compiled, run by run of consecutive blocks,
into one lazy query (:mod:`~medalist.features.lazy`): every window statistic once, in one
``with_columns``, then every output in one ``select``, collected on Polars' in-memory engine (the one
each block's own function uses, so sums come out bit-identical). Cache entries stay per block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from medalist.core.errors import ConfigError, DataError
from medalist.features.base import PART, FeatureContext, check_columns
from medalist.features.cache import FeatureCache
from medalist.features.lazy import Shared, fused_query
from medalist.features.steps import referenced

if TYPE_CHECKING:
    from medalist.features.plan import FeaturePlan
    from medalist.features.steps import Step

__all__ = ["run_static", "run_for_split", "encode"]


def run_static(plan: FeaturePlan, train: pl.DataFrame, test: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """See :meth:`FeaturePlan.static`.

    Train and test are stacked once (only the columns some static block names; every column when a
    ``custom`` block is present), without the target. Consecutive blocks with an ``exprs`` form are
    computed together as one lazy query (:func:`~medalist.features.lazy.fused_query`); a block
    without one, one whose inputs it cannot express, or one reading a column made earlier in the
    same run of blocks ends the run and is computed as before. Cache entries stay per block.
    """
    ctx = plan.ctx
    drop = [c for c in ctx.target if c in train.columns]
    available = [c for c in train.columns if c not in drop] + [c for c in test.columns if c not in train.columns]
    keep = _needed(plan, available)
    frame = pl.concat(
        [train.select([c for c in train.columns if c not in drop and (keep is None or c in keep)]).with_columns(pl.lit(0, pl.Int8).alias(PART)),
         test.select([c for c in test.columns if keep is None or c in keep]).with_columns(pl.lit(1, pl.Int8).alias(PART))],
        how="diagonal_relaxed",
    )
    new_cols: list[str] = []
    plan.cache_hits, plan.cache_misses, plan.queries, plan.fused_in, plan.n_queries = [], [], [], {}, 0
    cache = FeatureCache(ctx)
    batch = _Batch()

    def add(step: Step, out: pl.DataFrame) -> None:
        nonlocal frame
        ctx.index = step.index
        out = encode(out, ctx, plan.categorical)
        cols = new_column_names(out, available, ctx)
        plan.columns.update({c: step.block.name for c in cols})
        plan.sources.update({c: step.index for c in cols})
        new_cols.extend(cols)
        available.extend(cols)
        frame = frame.hstack(out)

    for step in plan.steps:
        if step.block.per_fold:
            continue
        ctx.index = step.index
        if batch.items and referenced(step) & batch.names:
            batch.flush(plan, cache, frame, add)  # it reads a column of the pending run
        check_columns(step.params, available, ctx)
        if not _batched(plan, cache, batch, step, frame):
            batch.flush(plan, cache, frame, add)
            add(step, _static_output(plan, cache, step, frame))
    batch.flush(plan, cache, frame, add)
    plan._ready = [*available, *ctx.target]
    for step in plan.steps:  # per-fold blocks: fail on a bad column now, before any model is fitted
        if step.block.per_fold:
            ctx.index = step.index
            check_columns(step.params, [c for c in plan._ready if c not in ctx.target], ctx)
    if not new_cols:
        return train, test, []
    # frame is train's rows then test's, and every block keeps that order: zero-copy slices, not a
    # boolean filter that would copy every new column once more
    added = frame.select(new_cols)
    return train.hstack(added.slice(0, train.height)), test.hstack(added.slice(train.height)), new_cols


def _needed(plan: FeaturePlan, available: list[str]) -> set[str] | None:
    """The input columns static blocks may read (None: all of them, for custom code or unknown names)."""
    ctx, need = plan.ctx, {PART}
    for step in plan.steps:
        if step.block.per_fold:
            continue
        if step.block.name == "custom" or step.block.name not in _KNOWN:
            return None
        refs = referenced(step)
        if step.block.name == "expr" and not refs <= set(available):
            return None  # its error message suggests names from every column
        need |= refs
    need |= {c for c in (ctx.id, ctx.time) if c}
    return need


# blocks whose inputs are all named in their parameters (plus the id and time columns)
_KNOWN = {"group_agg", "group_deviation", "rank_in_group", "count_encode", "lag", "date_parts", "expr", "join", "oof_feature"}


class _Batch:
    """A run of consecutive expressible blocks: cache hits (their outputs) and misses (their expressions)."""

    def __init__(self) -> None:
        self.items: list[tuple[Step, str | None, pl.DataFrame | None, list[str]]] = []
        self.exprs: list[pl.Expr] = []
        self.shared = Shared()
        self.names: set[str] = set()

    def flush(self, plan: FeaturePlan, cache: FeatureCache, frame: pl.DataFrame, add) -> None:
        """Compute the pending misses in one query, write their cache entries, add every output in order."""
        if not self.items:
            return
        computed, index = None, plan.ctx.index
        if self.exprs:
            query = fused_query(frame, self.exprs, self.shared)
            plan.fused_in.update({step.index: plan.n_queries for step, _, out, _ in self.items if out is None})
            plan.n_queries += 1
            if plan.record_queries:
                plan.queries.append(query.explain())
            computed = query.collect(engine="in-memory")  # the engine of the eager blocks: identical sums
        for step, key, out, names in self.items:
            if out is None:
                out = computed.select(names)
                cache.write(key, out)
                if key is not None:
                    plan.cache_misses.append(step.index)
            add(step, out)
        plan.ctx.index = index
        self.__init__()


def _batched(plan: FeaturePlan, cache: FeatureCache, batch: _Batch, step: Step, frame: pl.DataFrame) -> bool:
    """Put ``step`` into the pending run (a cache hit, or its expressions); False: it cannot join one."""
    if step.block.exprs is None or not plan.fuse:
        return False
    ctx = plan.ctx
    key = cache.key(step, frame)
    out = cache.read(key)
    if out is not None:
        plan.cache_hits.append(step.index)
        names = out.columns
    else:
        exprs = step.block.exprs(frame, step.params, ctx, batch.shared)
        if exprs is None:
            return False
        names = [e.meta.output_name() for e in exprs]
        taken = set(frame.columns) | batch.names
        for n in names:  # the same refusal as when the block runs alone, before anything is computed
            if n in taken or names.count(n) > 1:
                return False
        batch.exprs += exprs
    batch.items.append((step, key, out, names))
    batch.names |= set(names)
    return True


def _static_output(plan: FeaturePlan, cache: FeatureCache, step: Step, frame: pl.DataFrame) -> pl.DataFrame:
    """One static block's output, read from the cache or computed (and written to it)."""
    ctx = plan.ctx
    key = cache.key(step, frame)
    out = cache.read(key)
    if out is not None:
        plan.cache_hits.append(step.index)
        return out
    out = step.block.fn(frame, step.params, ctx)
    if out.height != frame.height:
        raise DataError(ctx.where(), expected=f"{frame.height} rows from block '{step.block.name}'", found=f"{out.height}")
    cache.write(key, out)
    if key is not None:
        plan.cache_misses.append(step.index)
    return out


def run_for_split(plan: FeaturePlan, train: pl.DataFrame, valid: pl.DataFrame, test: pl.DataFrame,
                  inner: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[str]]:
    """See :meth:`FeaturePlan.for_split`."""
    ctx = plan.ctx
    new_cols: list[str] = []
    for step in plan.steps:
        if not step.block.per_fold:
            continue
        ctx.index = step.index
        if plan._ready is None:
            check_columns(step.params, [c for c in train.columns if c not in ctx.target], ctx)
        a, b, c = step.block.fn(train, valid, test, step.params, ctx, inner)
        new_column_names(a, train.columns, ctx)
        plan.columns.update({col: step.block.name for col in a.columns})
        plan.sources.update({col: step.index for col in a.columns})
        train, valid, test = train.hstack(a), valid.hstack(b), test.hstack(c)
        new_cols += a.columns
    return train, valid, test, new_cols


def new_column_names(new: pl.DataFrame, have: list[str], ctx: FeatureContext) -> list[str]:
    """The names of ``new``'s columns, refusing any that already exist."""
    for c in new.columns:
        if c in have:
            raise ConfigError(ctx.where(), expected="new column names", found=f"'{c}' exists already",
                              fix="rename it (e.g. 'name:'/'prefix:') or drop the duplicate block")
    return new.columns


def encode(out: pl.DataFrame, ctx: FeatureContext, categorical: list[str]) -> pl.DataFrame:
    """Text columns (joins, custom code) become category codes, like data.prepare does.

    Their labels go to ``ctx.categories`` and their names are appended to ``categorical``.
    """
    for c in out.columns:
        s = out.get_column(c)
        if s.dtype == pl.Boolean:
            out = out.with_columns(s.cast(pl.Int8))
        elif s.dtype in (pl.String, pl.Categorical) or isinstance(s.dtype, pl.Enum):
            cats = sorted(s.cast(pl.String).drop_nulls().unique().to_list())
            ctx.categories[c] = cats
            lut = pl.DataFrame({c: cats, "__code": np.arange(len(cats), dtype=np.int32)}, schema={c: pl.String, "__code": pl.Int32})
            out = out.with_columns(pl.DataFrame({c: s.cast(pl.String)}).join(lut, on=c, how="left", maintain_order="left")
                                   .get_column("__code").alias(c))
            categorical.append(c)
        elif not (s.dtype.is_numeric()):
            out = out.with_columns(s.to_physical().cast(pl.Int64) if s.dtype.is_temporal() else s)
    return out
