"""What ``medalist auto`` looks at before it trains: threads, id-like columns, feature candidates, costs.

* :func:`default_threads`: the cores this process may use (CPU affinity) minus the load other
  processes already put on them (the 1-minute load average), at least 1 — measured, not assumed.
* :func:`inspect_table`: the feature columns of the workspace, the id-like ones (unique or near-unique
  per row, or the group column under another name) to leave out, and the feature candidates worth a
  CV check (count encoding of high-cardinality categoricals, date parts of date columns, group means
  of numeric columns by low-cardinality categoricals).
* :class:`CostModel`: seconds each kind of run is expected to take, from the runs measured so far.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CostModel", "TableFacts", "default_threads", "inspect_table", "RELATIVE_COST"]

# Rough cost of a default config of each family relative to LightGBM on the same data (measured on the
# benchmark tables); replaced by the measured seconds as soon as the family has run once.
RELATIVE_COST = {"lightgbm": 1.0, "xgboost": 1.5, "catboost": 3.0, "linear": 0.3}

HIGH_CARD = 30  # a categorical with more distinct values than this gets a count-encoding candidate
LOW_CARD = 20  # ... with at most this many (and at least 2) is a key for group statistics
NEAR_UNIQUE = 0.95  # a text column with this share of distinct values per row is an id


def default_threads() -> int:
    """Cores this process may use minus the load already on them (1-minute load average), at least 1.

    >>> 1 <= default_threads() <= len(os.sched_getaffinity(0))
    True
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return max(1, min(cores, int(round(cores - busy))))


@dataclass
class TableFacts:
    features: list[str]
    id_like: dict[str, str] = field(default_factory=dict)  # column -> why it was left out
    candidates: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # name -> feature blocks
    drop_with: dict[str, list[str]] = field(default_factory=dict)  # candidate -> raw columns it replaces
    rows: int = 0


def _is_date_text(s) -> bool:
    import polars as pl

    sample = s.drop_nulls().head(200)
    if sample.len() == 0 or sample.dtype != pl.String or not sample.str.contains(r"^\d{4}-\d{2}-\d{2}").all():
        return False
    return sample.str.to_datetime(strict=False).null_count() == 0


def inspect_table(ws) -> TableFacts:
    """The default feature columns of ``ws``, which of them look like ids, and the feature candidates."""
    import polars as pl

    from medalist.core.config import ColumnsConfig
    from medalist.workspace.data import load_competition_data, read_table

    data = load_competition_data(ws, ColumnsConfig())
    raw = read_table(ws.train_path, what="train", columns=data.features)
    n = raw.height
    facts = TableFacts(features=list(data.features), rows=n)
    comp = ws.competition
    group = comp.group
    if ws.folds_path.is_file():
        from medalist.workspace.folds import Folds

        group = Folds.load(ws.folds_path).meta.get("group") or group
    gcol = None
    if group and group not in raw.columns:
        gcol = read_table(ws.train_path, what="train", columns=[group])[group]
    elif group:
        gcol = raw[group]
    n_group = gcol.n_unique() if gcol is not None else None
    for c in raw.columns:
        s = raw[c]
        k = s.n_unique()
        if c == group:
            facts.id_like[c] = f"the group column of the folds ({k} groups): unseen groups at validation and test"
        elif s.dtype == pl.String and k >= NEAR_UNIQUE * n and n >= 20:
            facts.id_like[c] = f"text with {k} distinct values in {n} rows (an identifier)"
        elif s.dtype.is_integer() and k == n and n >= 20 and s.null_count() == 0:
            facts.id_like[c] = f"integers unique per row ({k} of {n}): an identifier or row number"
        elif (s.dtype.is_integer() or s.dtype == pl.String) and gcol is not None and n_group and k == n_group and k > 1 and \
                pl.DataFrame({"a": s, "g": gcol}).n_unique() == k:
            facts.id_like[c] = f"one value per group of '{group}' ({k}): the group column under another name"
    usable = [c for c in raw.columns if c not in facts.id_like]
    cats = [c for c in usable if raw[c].dtype in (pl.String, pl.Categorical, pl.Boolean) and not _is_date_text(raw[c])]
    nums = [c for c in usable if raw[c].dtype.is_numeric()]
    dates = [c for c in usable if raw[c].dtype.is_temporal() or _is_date_text(raw[c])]
    high = [c for c in cats if raw[c].n_unique() > HIGH_CARD]
    low = [c for c in cats if 2 <= raw[c].n_unique() <= LOW_CARD]
    if high:
        facts.candidates["count_encode"] = [{"block": "count_encode", "columns": high}]
    if dates:
        facts.candidates["date_parts"] = [{"block": "date_parts", "column": d, "parts": ["year", "month", "day", "weekday", "dayofyear"]}
                                          for d in dates]
        facts.drop_with["date_parts"] = [d for d in dates if raw[d].dtype == pl.String]
    if low and nums:
        # the most informative keys first would need the target; fewest levels first keeps groups large
        keys = sorted(low, key=lambda c: raw[c].n_unique())[:3]
        cols = sorted(nums, key=lambda c: -raw[c].n_unique())[:5]
        facts.candidates["group_stats"] = [{"block": "group_agg", "columns": cols, "by": keys, "stats": ["mean"]},
                                           {"block": "group_deviation", "columns": cols, "by": keys, "how": ["diff"]}]
    return facts


@dataclass
class CostModel:
    """Seconds a run is expected to take: measured for a family once it ran, else relative to LightGBM.

    >>> c = CostModel()
    >>> c.measure("lightgbm", 10.0); c.estimate("xgboost"), c.estimate("lightgbm", seeds=3)
    (15.0, 30.0)
    """

    seconds: dict[str, float] = field(default_factory=dict)

    def measure(self, family: str, seconds: float, seeds: int = 1) -> None:
        per_seed = seconds / max(seeds, 1)
        old = self.seconds.get(family)
        # a slower measurement wins: the plan must not overrun when a later run of the family is slower
        self.seconds[family] = per_seed if old is None else max(old * 0.5 + per_seed * 0.5, per_seed)

    def unit(self) -> float | None:
        """Seconds of a LightGBM-cost run, from whatever family was measured."""
        units = [s / RELATIVE_COST[f] for f, s in self.seconds.items() if f in RELATIVE_COST]
        return max(units) if units else None

    def estimate(self, family: str, seeds: int = 1) -> float | None:
        if family in self.seconds:
            return self.seconds[family] * seeds
        u = self.unit()
        return None if u is None else u * RELATIVE_COST.get(family, 1.0) * seeds
