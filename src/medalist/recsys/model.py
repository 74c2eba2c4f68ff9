"""The two-stage recommender: candidate generators → LightGBM re-ranker → top-k per user.

``fit(interactions)`` trains "full-train" style: it holds out each user's last ``holdout``
interactions as labels, generates candidates from everything before them, trains the ranker on
that window, then refits the generators on *all* interactions so ``recommend`` serves from the
latest data with a ranker that learned the same shift (history → next items).
"""

from __future__ import annotations

import time
from typing import Any

import polars as pl

from medalist.core.errors import ConfigError, DataError, did_you_mean
from medalist.recsys.candidates import (
    CandidateGenerator,
    EncodedTrain,
    Popular,
    make_generator,
)
from medalist.recsys.features import feature_columns, pair_features, to_matrix
from medalist.recsys.interactions import time_split

__all__ = ["TwoStageRecommender", "merge_candidates", "popularity_recommendations"]

_OBJECTIVES = ("lambdarank", "binary")
DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 50, "feature_fraction": 0.8,
    "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0, "verbosity": -1,
}


def _labelled(specs: list) -> list[tuple[str, dict]]:
    out, seen = [], set()
    for spec in specs:
        d = {"name": spec} if isinstance(spec, str) else dict(spec)
        label = str(d.pop("label", d.get("name")))
        if label in seen:
            raise ConfigError(f"candidates: '{label}'", expected="distinct generator labels", found="a duplicate",
                              fix="give the second one `label: <other name>`")
        seen.add(label)
        out.append((label, d))
    return out


def merge_candidates(gens: dict[str, CandidateGenerator], users: pl.Series, *, exclude_seen: bool = True) -> pl.DataFrame:
    """Union of every generator's candidates: ``user, item, <label>_rank`` (null where a generator missed it)."""
    merged: pl.DataFrame | None = None
    for label, g in gens.items():
        c = g.candidates(users, exclude_seen=exclude_seen).select("user", "item", pl.col("rank").alias(f"{label}_rank"))
        merged = c if merged is None else merged.join(c, on=["user", "item"], how="full", coalesce=True)
    assert merged is not None  # config validation guarantees at least one generator
    return merged.sort(["user", "item"])


def popularity_recommendations(enc: EncodedTrain, users: pl.Series, k: int, *, exclude_seen: bool = True) -> pl.DataFrame:
    """The popularity baseline (and cold-start answer): ``user, rank, item, score``."""
    c = Popular(k=k).fit(enc).candidates(users, exclude_seen=exclude_seen)
    return c.select("user", "rank", "item", "score")


class TwoStageRecommender:
    """Candidates from several generators, re-ranked by LightGBM.

    ``TwoStageRecommender(candidates=[{"name": "popular", "k": 30}, {"name": "covisit", "k": 30}])``,
    then ``.fit(interactions)`` and ``.recommend(users, k=10)``; :func:`medalist.recsys.pipeline.evaluate`
    runs it on a time split.
    """

    def __init__(self, *, candidates: list, objective: str = "lambdarank", params: dict | None = None,
                 num_boost_round: int = 200, holdout: int = 5, min_train: int = 5, exclude_seen: bool = True,
                 threads: int = 1, seed: int = 42, max_users: int | None = None) -> None:
        if not candidates:
            raise ConfigError("candidates", expected="at least one generator", found="none", fix="add e.g. {name: popular, k: 50}")
        if objective not in _OBJECTIVES:
            raise ConfigError("ranker.objective", expected="'lambdarank' or 'binary'",
                              found=f"'{objective}'{did_you_mean(objective, _OBJECTIVES)}")
        self.specs = _labelled(candidates)
        for label, d in self.specs:  # build once now: bad names/params fail before any data work
            g = make_generator(d)
            if g.repeats and exclude_seen:
                raise ConfigError(f"candidates: {label}", expected="exclude_seen: false for a generator of seen items",
                                  found="exclude_seen: true (every candidate would be removed)",
                                  fix="set exclude_seen: false, or drop this generator")
        self.objective, self.params, self.num_boost_round = objective, dict(params or {}), num_boost_round
        self.holdout, self.min_train, self.exclude_seen = holdout, min_train, exclude_seen
        self.threads, self.seed, self.max_users = threads, seed, max_users

    # ------------------------------------------------------------------ building blocks
    def _fit_generators(self, train: pl.DataFrame) -> tuple[EncodedTrain, dict[str, CandidateGenerator]]:
        enc = EncodedTrain.build(train)
        gens = {label: make_generator(d).fit(enc) for label, d in self.specs}
        return enc, gens

    def _frame(self, train: pl.DataFrame, enc: EncodedTrain, gens: dict[str, CandidateGenerator],
               users: pl.Series) -> pl.DataFrame:
        cands = merge_candidates(gens, users, exclude_seen=self.exclude_seen)
        return pair_features(cands, train, enc, gens)

    # ------------------------------------------------------------------ fit / recommend
    def fit(self, interactions: pl.DataFrame) -> "TwoStageRecommender":
        """Train the ranker on the latest window, then refit the generators on everything."""
        import lightgbm as lgb

        t0 = time.perf_counter()
        inner = time_split(interactions, holdout=self.holdout, min_train=self.min_train)
        users = inner.valid["user"].unique().sort()
        if self.max_users and len(users) > self.max_users:  # "iterate on a sample": fewer ranker users
            users = users.sample(self.max_users, seed=self.seed).sort()
        enc, gens = self._fit_generators(inner.train)
        frame = self._frame(inner.train, enc, gens, users)
        pos = inner.valid.select("user", "item").unique().with_columns(pl.lit(1, pl.Int8).alias("label"))
        frame = frame.join(pos, on=["user", "item"], how="left").with_columns(pl.col("label").fill_null(0))
        stats = frame.group_by("user").agg(pl.col("label").sum().alias("p"), pl.len().alias("n"))
        good = stats.filter((pl.col("p") > 0) & (pl.col("p") < pl.col("n")))["user"]
        self.train_stats_ = {
            "ranker_users": len(users), "ranker_rows": frame.height, "users_with_positive": len(good),
            "positive_rate": float(frame["label"].mean()) if frame.height else 0.0,
        }
        if len(good) == 0:
            raise DataError("recsys ranker training", expected="some users whose held-out items appear among their candidates",
                            found=f"0 of {len(users)} users ({frame.height} candidate rows)",
                            fix="raise the generators' k or add generators (e.g. popular, covisit)")
        frame = frame.filter(pl.col("user").is_in(good.implode())).sort(["user", "item"])
        self.features_ = feature_columns(frame)
        x, y = to_matrix(frame, self.features_), frame["label"].to_numpy()
        groups = frame.group_by("user", maintain_order=True).len()["len"].to_numpy()
        params = {**DEFAULT_PARAMS, **self.params, "objective": self.objective, "num_threads": self.threads,
                  "seed": self.seed, "deterministic": True, "force_row_wise": True}
        ds = lgb.Dataset(x, y, group=groups if self.objective == "lambdarank" else None,
                         feature_name=self.features_, free_raw_data=True)
        self.booster_ = lgb.train(params, ds, num_boost_round=self.num_boost_round)
        self.fit_seconds_ = {"ranker_window": round(time.perf_counter() - t0, 3)}
        t1 = time.perf_counter()
        self.train_ = interactions
        self.enc_, self.gens_ = self._fit_generators(interactions)
        self.fit_seconds_["refit_generators"] = round(time.perf_counter() - t1, 3)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise ConfigError("TwoStageRecommender", expected="a fitted recommender", found="not fitted", fix="call fit(interactions) first")

    def candidates(self, users: pl.Series) -> pl.DataFrame:
        """The merged candidate table for ``users`` (from the refitted generators)."""
        self._check_fitted()
        return merge_candidates(self.gens_, users, exclude_seen=self.exclude_seen)

    def recommend(self, users: pl.Series, k: int = 10) -> pl.DataFrame:
        """Top-``k`` items per user as ``user, rank, item, score, source``.

        ``source`` is ``ranker`` for re-ranked candidates and ``popular`` for the fallback: users
        never seen in training (cold start) get the popularity list, and users with fewer than
        ``k`` candidates (an empty or short candidate set) are topped up from it.
        """
        self._check_fitted()
        if not isinstance(k, int) or k < 1:
            raise ConfigError("k", expected="a positive integer", found=repr(k))
        users = pl.Series("user", users).unique().sort()
        frame = self._frame(self.train_, self.enc_, self.gens_, users)
        known = users.is_in(pl.Series(self.enc_.users).implode())
        frame = frame.filter(pl.col("user").is_in(users.filter(known).implode()))
        empty = pl.DataFrame(schema={"user": users.dtype, "rank": pl.Int64, "item": self.enc_.item_series.dtype,
                                     "score": pl.Float64, "source": pl.String})
        if frame.height:
            pred = self.booster_.predict(to_matrix(frame, self.features_), num_threads=self.threads)
            ranked = (frame.select("user", "item").with_columns(pl.Series("score", pred, dtype=pl.Float64))
                      .sort(["user", "score", "item"], descending=[False, True, False])
                      .with_columns(pl.int_range(1, pl.len() + 1).over("user").cast(pl.Int64).alias("rank"))
                      .filter(pl.col("rank") <= k).with_columns(pl.lit("ranker").alias("source"))
                      .select(empty.columns))
        else:
            ranked = empty
        # fallback: popularity for cold users and to fill short lists; never repeats a listed item
        pop = popularity_recommendations(self.enc_, users, k + k, exclude_seen=self.exclude_seen)
        pop = (pop.join(ranked.select("user", "item"), on=["user", "item"], how="anti")
               .with_columns(pl.lit("popular").alias("source"), pl.col("score").cast(pl.Float64)))
        have = ranked.group_by("user").len().rename({"len": "have"})
        pop = (pop.join(have, on="user", how="left").with_columns(pl.col("have").fill_null(0))
               .sort(["user", "rank"]).with_columns((pl.int_range(1, pl.len() + 1).over("user") + pl.col("have")).alias("rank"))
               .filter(pl.col("rank") <= k).select(empty.columns))
        return pl.concat([ranked, pop.cast(empty.schema)]).sort(["user", "rank"])

    def feature_importance(self) -> dict[str, float]:
        self._check_fitted()
        return dict(zip(self.features_, self.booster_.feature_importance("gain").tolist(), strict=True))
