"""A FeaturePlan: an experiment's ``features:`` list, validated, split into static and per-fold steps.

The runner stays generic: it calls :meth:`FeaturePlan.static` once before the CV loop (train+test
stacked, no target) and :meth:`FeaturePlan.for_split` inside each split (target-aware blocks,
statistics from that split's train rows only). Planning lives in :mod:`~medalist.features.steps`,
execution in :mod:`~medalist.features.execute`, the Parquet cache in :mod:`~medalist.features.cache`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medalist.features.base import FeatureContext
from medalist.features.cache import CACHE_VERSION
from medalist.features.execute import run_for_split, run_static
from medalist.features.steps import Step, derived_from, parse_steps

__all__ = ["FeaturePlan", "Step", "build_plan", "apply_static", "fold_labels", "CACHE_VERSION"]


class FeaturePlan:
    """The validated feature blocks of one experiment.

    >>> plan = FeaturePlan([{"block": "count_encode", "columns": ["c"]}])
    >>> tr, te, cols = plan.static(pl.DataFrame({"id": [1, 2], "c": [5, 5]}), pl.DataFrame({"id": [3], "c": [6]}))
    >>> cols, tr["cnt_c"].to_list()
    (['cnt_c'], [2, 2])
    """

    def __init__(self, specs: list[dict[str, Any]] | None, ctx: FeatureContext | None = None) -> None:
        self.ctx = ctx or FeatureContext()
        self.columns: dict[str, str] = {}  # created column -> block name, in creation order
        self.sources: dict[str, int] = {}  # created column -> index of the block that made it
        self.categorical: list[str] = []  # created columns that hold category codes
        self._ready: list[str] | None = None  # columns after static(): what per-fold blocks may use
        self.cache_hits: list[int] = []  # indexes of static blocks read from the cache by the last static()
        self.cache_misses: list[int] = []  # … and of those computed (and written to the cache)
        self.fuse = True  # consecutive expressible blocks as one lazy query (False: each block's own function)
        self.record_queries = False  # keep the optimized plan of each fused query (``queries``)?
        self.queries: list[str] = []  # LazyFrame.explain() of the last static()'s fused queries, in order
        self.fused_in: dict[int, int] = {}  # index of a block computed in a fused query -> that query's number
        self.n_queries = 0  # fused queries run by the last static()
        self.steps: list[Step] = parse_steps(specs, self.ctx)

    @property
    def per_fold(self) -> bool:
        """Whether some block must be computed inside each split."""
        return any(s.block.per_fold for s in self.steps)

    def __bool__(self) -> bool:
        return bool(self.steps)

    def derived_from(self, column: str) -> list[str]:
        """Created columns computed from ``column``, directly or through other created columns.

        >>> p = FeaturePlan([{"block": "count_encode", "columns": ["c"]}, {"block": "expr", "name": "e", "sql": "cnt_c + 1"}])
        >>> _ = p.static(pl.DataFrame({"id": [1], "c": [5]}), pl.DataFrame({"id": [2], "c": [5]}))
        >>> p.derived_from("c")
        ['cnt_c', 'e']
        """
        return derived_from(self.steps, self.sources, column)

    def static(self, train: pl.DataFrame, test: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
        """Run the fold-independent blocks on train+test stacked; return both frames and the new columns.

        The target columns are removed before any block sees the rows. Consecutive blocks with a
        Polars-expression form run as one lazy query (``fuse``; ``record_queries`` keeps each
        query's optimized plan in ``queries``), with the same outputs as each block run alone.
        """
        return run_static(self, train, test)

    def for_split(self, train: pl.DataFrame, valid: pl.DataFrame, test: pl.DataFrame,
                  inner: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[str]]:
        """Run the per-fold blocks for one split; ``inner`` is each train row's fold label.

        Statistics come from ``train`` rows only; train rows get inner-fold (OOF-style) values.
        """
        return run_for_split(self, train, valid, test, inner)


def build_plan(specs: list[dict[str, Any]], data, *, source: str, ws=None, folds_hash: str | None = None,
               root: Path | None = None, cache: bool = True) -> FeaturePlan:
    """A plan for ``data`` (a :class:`~medalist.workspace.data.CompetitionData`) in workspace ``ws``."""
    ctx = FeatureContext(
        source=source, id=data.id, target=list(data.target), task=data.task, classes=data.classes,
        time=ws.competition.time if ws is not None else None, categories=dict(data.categories),
        root=root or (ws.root if ws is not None else Path(".")), ws=ws, folds_hash=folds_hash,
        cache_dir=ws.root / ".medalist" / "cache" / "features" if ws is not None and cache else None,
    )
    return FeaturePlan(specs, ctx)


def apply_static(plan: FeaturePlan, data):
    """``data`` with the plan's static features added to its frames, features and categorical lists."""
    if not plan:
        return data
    train, test, cols = plan.static(data.train, data.test)
    return replace(data, train=train, test=test, features=[*data.features, *cols],
                   categorical=[*data.categorical, *[c for c in cols if c in plan.categorical]],
                   categories={**data.categories, **{c: plan.ctx.categories[c] for c in plan.categorical}})


def fold_labels(folds, train: pl.DataFrame) -> dict[int, np.ndarray]:
    """Per repeat, the fold of each train row (-1: never validated) — the inner folds of per-fold blocks."""
    out: dict[int, np.ndarray] = {}
    for s in folds.splits(train):
        out.setdefault(s.repeat, np.full(train.height, -1, dtype=np.int64))[s.valid_idx] = s.fold
    return out
