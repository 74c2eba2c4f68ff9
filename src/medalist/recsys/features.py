"""Re-ranker features with Polars: user, item and user×item blocks over a candidate table.

All statistics come from the training interactions only (the same ones the generators saw), so
the features of a candidate never look at the interactions it is labelled with.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from medalist.recsys.candidates import CandidateGenerator, EncodedTrain

__all__ = ["user_features", "item_features", "pair_features"]

_DAY = 86400.0


def item_features(train: pl.DataFrame) -> pl.DataFrame:
    """Per item: interactions, distinct users, mean/std weight, first and last time, popularity rank."""
    f = train.group_by("item").agg(
        pl.len().alias("i_n"),
        pl.col("user").n_unique().alias("i_users"),
        pl.col("weight").mean().alias("i_mean_w"),
        pl.col("weight").std().alias("i_std_w"),
        pl.col("time").min().alias("i_first"),
        pl.col("time").max().alias("i_last"),
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


def pair_features(cands: pl.DataFrame, train: pl.DataFrame, enc: EncodedTrain,
                  generators: dict[str, CandidateGenerator]) -> pl.DataFrame:
    """Join user and item blocks to ``cands`` (user, item, <label>_rank…) and add user×item columns.

    Each generator scores every candidate pair (``<label>_score``), not only the pairs it proposed,
    so the model sees e.g. the MF affinity of a co-visitation candidate.
    """
    items = item_features(train)
    users = user_features(train, items)
    out = cands.join(users, on="user", how="left").join(items, on="item", how="left")
    scores = {f"{label}_score": g.score_pairs(out.select("user", "item")) for label, g in generators.items()}
    out = out.with_columns([pl.Series(k, v, dtype=pl.Float32).fill_nan(None) for k, v in scores.items()])
    ranks = [c for c in out.columns if c.endswith("_rank")]
    out = out.with_columns(
        pl.sum_horizontal([pl.col(c).is_not_null().cast(pl.Int32) for c in ranks]).alias("n_sources")
        if ranks else pl.lit(0).alias("n_sources"),
        ((pl.col("u_last") - pl.col("i_first")) / _DAY).alias("i_age_at_user_days"),
        ((pl.col("u_last") - pl.col("i_last")) / _DAY).alias("i_last_gap_days"),
        (pl.col("i_users").log1p() - pl.col("u_mean_log_pop")).alias("pop_vs_taste"),
        (pl.col("i_mean_w") - pl.col("u_mean_w")).alias("w_vs_user"),
    )
    return out.drop("u_last", "i_first", "i_last")


def feature_columns(frame: pl.DataFrame) -> list[str]:
    """The model's input columns: everything except ids and the label."""
    return [c for c in frame.columns if c not in ("user", "item", "label")]


def to_matrix(frame: pl.DataFrame, cols: list[str]) -> np.ndarray:
    return frame.select([pl.col(c).cast(pl.Float32) for c in cols]).to_numpy()
