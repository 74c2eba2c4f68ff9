"""Re-ranker features with Polars: user, item, session, user×item and side-table blocks over candidates.

All statistics come from the training interactions only (the same ones the generators saw), so
the features of a candidate never look at the interactions it is labelled with. The per-user and
per-item tables are built once per training window (:class:`FeatureTables`) and joined to each
chunk of candidates, so memory follows the chunk, not users × items.

Feature groups (``ranker.drop_features`` takes names or glob patterns such as ``"s_*"``):

* ``u_*`` user: activity, weight habits, span, taste for popular items;
* ``s_*`` session: events in the last day / week before the user's last event, gap between the
  last two events, share of the last day's events per weight value (event types);
* ``i_*`` item: interactions, distinct users, weights, age, popularity rank, recent popularity;
* ``ui_*`` user×item: times and weight the user interacted with the item, days since;
* ``<label>_score`` / ``<label>_rank`` / ``n_sources``: every generator's view of the pair;
* side tables (``side:``): columns of an item or user table joined by key, prefixed.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from medalist.core.errors import DataError
from medalist.recsys.candidates import CandidateGenerator, EncodedTrain

__all__ = ["user_features", "item_features", "session_features", "pair_features", "FeatureTables", "SideTable",
           "feature_columns", "drop_matching"]

_DAY = 86400.0


@dataclass
class SideTable:
    """A table of item (``on="item"``) or user (``on="user"``) attributes joined to candidates by ``key``."""

    frame: pl.DataFrame
    key: str
    on: str = "item"
    prefix: str = "side_"
    name: str = "side table"

    def prepared(self, id_dtype: pl.DataType) -> pl.DataFrame:
        if self.on not in ("item", "user"):
            raise DataError(f"{self.name}: on", expected="'item' or 'user'", found=repr(self.on))
        if self.key not in self.frame.columns:
            raise DataError(f"{self.name}: key column '{self.key}'", expected="a column of the table",
                            found=f"columns {self.frame.columns[:12]}")
        dup = self.frame.filter(pl.col(self.key).is_duplicated())
        if dup.height:
            raise DataError(f"{self.name}: key '{self.key}'", expected="one row per key",
                            found=f"{dup[self.key].n_unique()} duplicated keys, e.g. {dup[self.key].head(3).to_list()}",
                            fix="aggregate the table to one row per key first")
        cols = [pl.col(self.key).cast(id_dtype, strict=False).alias(self.on)]
        for c, dt in self.frame.schema.items():
            if c == self.key:
                continue
            if dt.is_numeric() or dt == pl.Boolean:
                cols.append(pl.col(c).cast(pl.Float32).alias(self.prefix + c))
            elif dt in (pl.String, pl.Categorical, pl.Enum):  # strings: codes in first-seen order
                cols.append(pl.col(c).cast(pl.String).rank("dense").cast(pl.Float32).alias(self.prefix + c))
        return self.frame.select(cols)


def item_features(train: pl.DataFrame) -> pl.DataFrame:
    """Per item: interactions, distinct users, mean/std weight, first and last time, popularity rank,
    and interactions in the last 7 days of the log."""
    end = train["time"].max()
    f = train.group_by("item").agg(
        pl.len().alias("i_n"),
        pl.col("user").n_unique().alias("i_users"),
        pl.col("weight").mean().alias("i_mean_w"),
        pl.col("weight").std().alias("i_std_w"),
        pl.col("time").min().alias("i_first"),
        pl.col("time").max().alias("i_last"),
        (pl.col("time") > end - 7 * _DAY).sum().alias("i_n_last_week"),
    )
    return f.with_columns(pl.col("i_users").rank("min", descending=True).cast(pl.Float64).alias("i_pop_rank"))


def user_features(train: pl.DataFrame, items: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per user: activity, weight habits, time span, last time, and taste for popular items."""
    items = items if items is not None else item_features(train)
    t = train.join(items.select("item", "i_users"), on="item", how="left")
    return t.group_by("user").agg(
        pl.len().alias("u_n"),
        pl.col("item").n_unique().alias("u_items"),
        pl.col("weight").mean().alias("u_mean_w"),
        pl.col("weight").std().alias("u_std_w"),
        ((pl.col("time").max() - pl.col("time").min()) / _DAY).alias("u_span_days"),
        pl.col("time").max().alias("u_last"),
        pl.col("i_users").log1p().mean().alias("u_mean_log_pop"),
    )


def session_features(train: pl.DataFrame, *, max_types: int = 8) -> pl.DataFrame:
    """Per user, the latest "session": events in the last day and week before the user's last event,
    days between the last two events, and (when ``weight`` takes few values, e.g. event types) the
    count of each weight value in the last day."""
    t = train.select("user", "time", "weight").with_columns(pl.col("time").max().over("user").alias("_end"))
    age = pl.col("_end") - pl.col("time")
    aggs = [
        (age <= _DAY).sum().alias("s_n_day"),
        (age <= 7 * _DAY).sum().alias("s_n_week"),
        (pl.col("time").sort(descending=True).slice(0, 2).diff().abs().last() / _DAY).alias("s_gap_days"),
    ]
    kinds = train["weight"].unique()
    if 1 < len(kinds) <= max_types:
        aggs += [((age <= _DAY) & (pl.col("weight") == w)).sum().alias(f"s_n_day_w{w:g}") for w in kinds.sort().to_list()]
    return t.group_by("user").agg(aggs)


def user_item_features(train: pl.DataFrame) -> pl.DataFrame:
    """Per (user, item) seen in training: count, summed weight, last time."""
    return train.group_by("user", "item").agg(
        pl.len().alias("ui_n"), pl.col("weight").sum().alias("ui_w"), pl.col("time").max().alias("_ui_last"),
    )


@dataclass
class FeatureTables:
    """The per-user, per-item and per-pair tables of one training window, built once and joined per chunk."""

    users: pl.DataFrame
    items: pl.DataFrame
    sessions: pl.DataFrame
    pairs: pl.DataFrame
    side: list[tuple[str, pl.DataFrame]] = field(default_factory=list)

    @classmethod
    def build(cls, train: pl.DataFrame, side: Sequence[SideTable] = ()) -> "FeatureTables":
        items = item_features(train)
        out = cls(user_features(train, items), items, session_features(train), user_item_features(train))
        for s in side:
            out.side.append((s.on, s.prepared(train[s.on].dtype)))
        return out


def pair_features(cands: pl.DataFrame, train: pl.DataFrame, enc: EncodedTrain,
                  generators: dict[str, CandidateGenerator], tables: FeatureTables | None = None,
                  extra: Sequence[Callable[[pl.DataFrame, pl.DataFrame], pl.DataFrame]] = ()) -> pl.DataFrame:
    """Join user, session, item, user×item and side blocks to ``cands`` (user, item, <label>_rank…).

    Each generator scores every candidate pair (``<label>_score``), not only the pairs it proposed,
    so the model sees e.g. the MF affinity of a co-visitation candidate. ``extra``: your own blocks,
    ``fn(candidates, train) -> frame`` with one row per candidate (in order) whose columns are added.
    """
    tables = tables if tables is not None else FeatureTables.build(train)
    out = (cands.join(tables.users, on="user", how="left").join(tables.sessions, on="user", how="left")
           .join(tables.items, on="item", how="left").join(tables.pairs, on=["user", "item"], how="left"))
    for on, frame in tables.side:
        out = out.join(frame, on=on, how="left")
    scores = {f"{label}_score": g.score_pairs(out.select("user", "item")) for label, g in generators.items()}
    out = out.with_columns([pl.Series(k, v, dtype=pl.Float32).fill_nan(None) for k, v in scores.items()])
    ranks = [c for c in out.columns if c.endswith("_rank") and c != "i_pop_rank"]
    out = out.with_columns(
        pl.sum_horizontal([pl.col(c).is_not_null().cast(pl.Int32) for c in ranks]).alias("n_sources")
        if ranks else pl.lit(0).alias("n_sources"),
        ((pl.col("u_last") - pl.col("i_first")) / _DAY).alias("i_age_at_user_days"),
        ((pl.col("u_last") - pl.col("i_last")) / _DAY).alias("i_last_gap_days"),
        ((pl.col("u_last") - pl.col("_ui_last")) / _DAY).alias("ui_days_since"),
        (pl.col("i_users").log1p() - pl.col("u_mean_log_pop")).alias("pop_vs_taste"),
        (pl.col("i_mean_w") - pl.col("u_mean_w")).alias("w_vs_user"),
        pl.col("ui_n").fill_null(0), pl.col("ui_w").fill_null(0.0),
    )
    out = out.drop("u_last", "i_first", "i_last", "_ui_last")
    for fn in extra:
        block = fn(cands, train)
        if not isinstance(block, pl.DataFrame) or block.height != out.height:
            raise DataError(f"feature block {getattr(fn, '__name__', fn)!r}", expected=f"a Polars frame of {out.height} rows",
                            found=f"{type(block).__name__} of {getattr(block, 'height', '?')} rows")
        out = pl.concat([out, block.drop([c for c in ("user", "item") if c in block.columns])], how="horizontal")
    return out


def feature_columns(frame: pl.DataFrame, drop: Sequence[str] = ()) -> list[str]:
    """The model's input columns: everything except ids, the label and what ``drop`` matches."""
    return drop_matching([c for c in frame.columns if c not in ("user", "item", "label")], drop)


def drop_matching(cols: list[str], patterns: Sequence[str]) -> list[str]:
    return [c for c in cols if not any(fnmatch.fnmatchcase(c, p) for p in patterns)]


def to_matrix(frame: pl.DataFrame, cols: list[str]) -> np.ndarray:
    return frame.select([pl.col(c).cast(pl.Float32) for c in cols]).to_numpy()
