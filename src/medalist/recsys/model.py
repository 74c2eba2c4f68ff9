"""The two-stage recommender: candidate generators → LightGBM re-ranker → top-k per user.

``fit(interactions)`` trains "full-train" style: it holds out each user's last ``holdout``
interactions as labels, generates candidates from everything before them, trains the ranker on
that window, then refits the generators on *all* interactions so ``recommend`` serves from the
latest data with a ranker that learned the same shift (history → next items).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import ConfigError, DataError, did_you_mean
from medalist.recsys.candidates import (
    CHUNK_USERS,
    CandidateGenerator,
    EncodedTrain,
    Popular,
    make_generator,
)
from medalist.recsys.features import FeatureTables, SideTable, drop_matching, feature_columns, pair_features, to_matrix
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


def merge_candidates(gens: dict[str, CandidateGenerator], users: pl.Series, *, exclude_seen: bool = True,
                     chunk_users: int = CHUNK_USERS) -> pl.DataFrame:
    """Union of every generator's candidates: ``user, item, <label>_rank`` (null where a generator missed it)."""
    merged: pl.DataFrame | None = None
    for label, g in gens.items():
        c = g.candidates(users, exclude_seen=exclude_seen, chunk_users=chunk_users).select("user", "item", pl.col("rank").alias(f"{label}_rank"))
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

    Validation: with ``early_stopping_rounds`` the ranker trains on an earlier window (each user's
    ``holdout`` interactions before their last ``holdout``) and early-stops on the latest window,
    then is refit on both windows with the best number of rounds. ``neg_per_user`` samples that many
    negative candidates per training user (all positives kept); ``max_users`` trains on a sample of
    users (iterate fast, then drop it for the final run); ``drop_features`` removes features by
    name or glob (ablation); ``side`` joins item/user tables; ``feature_fns`` adds your own blocks.
    """

    def __init__(self, *, candidates: list, objective: str = "lambdarank", params: dict | None = None,
                 num_boost_round: int = 200, holdout: int = 5, min_train: int = 5, exclude_seen: bool = True,
                 threads: int = 1, seed: int = 42, max_users: int | None = None,
                 early_stopping_rounds: int | None = None, neg_per_user: int | None = None,
                 drop_features: Sequence[str] = (), side: Sequence[SideTable] = (),
                 feature_fns: Sequence[Callable] = (), chunk_users: int = CHUNK_USERS) -> None:
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
        for name, v in (("early_stopping_rounds", early_stopping_rounds), ("neg_per_user", neg_per_user)):
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ConfigError(f"ranker.{name}", expected="a positive integer or null", found=repr(v))
        self.objective, self.params, self.num_boost_round = objective, dict(params or {}), num_boost_round
        self.holdout, self.min_train, self.exclude_seen = holdout, min_train, exclude_seen
        self.threads, self.seed, self.max_users = threads, seed, max_users
        self.early_stopping_rounds, self.neg_per_user = early_stopping_rounds, neg_per_user
        self.drop_features, self.side, self.feature_fns = list(drop_features), list(side), list(feature_fns)
        self.chunk_users = chunk_users

    # ------------------------------------------------------------------ building blocks
    def _fit_generators(self, train: pl.DataFrame) -> tuple[EncodedTrain, dict[str, CandidateGenerator]]:
        enc = EncodedTrain.build(train)
        gens = {label: make_generator(d).fit(enc) for label, d in self.specs}
        return enc, gens

    def _frames(self, train: pl.DataFrame, enc: EncodedTrain, gens: dict[str, CandidateGenerator], users: pl.Series,
                tables: FeatureTables | None = None):
        """Candidates + features for ``users``, one chunk of ``chunk_users`` users at a time."""
        tables = tables if tables is not None else FeatureTables.build(train, self.side)
        for start in range(0, len(users), self.chunk_users):
            part = users.slice(start, self.chunk_users)
            cands = merge_candidates(gens, part, exclude_seen=self.exclude_seen, chunk_users=self.chunk_users)
            yield pair_features(cands, train, enc, gens, tables, self.feature_fns)

    def _frame(self, train: pl.DataFrame, enc: EncodedTrain, gens: dict[str, CandidateGenerator],
               users: pl.Series) -> pl.DataFrame:
        return pl.concat(list(self._frames(train, enc, gens, users)), how="diagonal_relaxed")

    def _window(self, split, *, sample: bool, rng: np.random.Generator) -> tuple[pl.DataFrame, dict]:
        """The labelled candidate frame of one time window (users with a hit and a miss only)."""
        users = split.valid["user"].unique().sort()
        if self.max_users and len(users) > self.max_users:  # "iterate on a sample": fewer ranker users
            users = users.sample(self.max_users, seed=self.seed).sort()
        enc, gens = self._fit_generators(split.train)
        pos = split.valid.select("user", "item").unique().with_columns(pl.lit(1, pl.Int8).alias("label"))
        parts, n_rows = [], 0
        for f in self._frames(split.train, enc, gens, users):
            f = f.join(pos, on=["user", "item"], how="left").with_columns(pl.col("label").fill_null(0))
            n_rows += f.height
            st = f.group_by("user").agg(pl.col("label").sum().alias("p"), pl.len().alias("n"))
            good = st.filter((pl.col("p") > 0) & (pl.col("p") < pl.col("n")))["user"]
            f = f.filter(pl.col("user").is_in(good.implode()))
            if sample and self.neg_per_user:
                r = pl.Series("_r", rng.random(f.height))
                f = (f.with_columns(r).with_columns(pl.col("_r").rank("ordinal").over("user", "label").alias("_k"))
                     .filter((pl.col("label") == 1) | (pl.col("_k") <= self.neg_per_user)).drop("_r", "_k"))
            parts.append(f)
        frame = pl.concat(parts, how="diagonal_relaxed").sort(["user", "item"]) if parts else pl.DataFrame()
        stats = {"ranker_users": len(users), "ranker_rows": n_rows,
                 "users_with_positive": frame["user"].n_unique() if frame.height else 0,
                 "positive_rate": float(frame["label"].mean()) if frame.height else 0.0}
        return frame, stats

    def _dataset(self, frame: pl.DataFrame, reference=None):
        import lightgbm as lgb

        x, y = to_matrix(frame, self.features_), frame["label"].to_numpy()
        groups = frame.group_by("user", maintain_order=True).len()["len"].to_numpy()
        return lgb.Dataset(x, y, group=groups if self.objective == "lambdarank" else None,
                           feature_name=self.features_, free_raw_data=True, reference=reference)

    # ------------------------------------------------------------------ fit / recommend
    def fit(self, interactions: pl.DataFrame) -> "TwoStageRecommender":
        """Train the ranker (validated on the latest window when ``early_stopping_rounds``), then
        refit the generators on everything."""
        import lightgbm as lgb

        t0 = time.perf_counter()
        rng = np.random.default_rng(self.seed)
        latest = time_split(interactions, holdout=self.holdout, min_train=self.min_train)
        earlier = None
        if self.early_stopping_rounds:
            try:
                earlier = time_split(latest.train, holdout=self.holdout, min_train=self.min_train)
            except DataError as e:
                raise DataError("recsys ranker validation", expected=f"users with at least {2 * self.holdout + self.min_train} "
                                "interactions (a training window before the validation window)", found=str(e),
                                fix="lower split.holdout/min_train, or set ranker.early_stopping_rounds: null") from e
        frame, stats = self._window(latest, sample=earlier is None, rng=rng)
        self.train_stats_ = stats
        if frame.height == 0:
            raise DataError("recsys ranker training", expected="some users whose held-out items appear among their candidates",
                            found=f"0 of {stats['ranker_users']} users ({stats['ranker_rows']} candidate rows)",
                            fix="raise the generators' k or add generators (e.g. popular, covisit)")
        params = {**DEFAULT_PARAMS, **self.params, "objective": self.objective, "num_threads": self.threads,
                  "seed": self.seed, "deterministic": True, "force_row_wise": True}
        if self.objective == "lambdarank":
            params.setdefault("eval_at", [10])
        if earlier is not None:
            train_frame, st_a = self._window(earlier, sample=True, rng=rng)
            if train_frame.height == 0:
                raise DataError("recsys ranker training window", expected="users with a held-out item among their candidates",
                                found="none", fix="raise the generators' k, or set ranker.early_stopping_rounds: null")
            self.features_ = drop_matching(feature_columns(train_frame), self.drop_features)
            frame = frame.select(pl.all(), *[pl.lit(None, pl.Float32).alias(c) for c in self.features_ if c not in frame.columns])
            dtrain = self._dataset(train_frame)
            dvalid = self._dataset(frame, reference=dtrain)
            evals: dict = {}
            b = lgb.train(params, dtrain, num_boost_round=self.num_boost_round, valid_sets=[dvalid], valid_names=["latest"],
                          callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False), lgb.record_evaluation(evals)])
            best = max(1, b.best_iteration or self.num_boost_round)
            metric = next(iter(evals["latest"])) if evals.get("latest") else None
            self.validation_ = {"best_iteration": best, "metric": metric,
                                "best_score": float(evals["latest"][metric][best - 1]) if metric else None,
                                "train_window": st_a, "valid_window": stats}
            # refit on both windows (negatives of the validation window sampled like training's)
            if self.neg_per_user:
                r = pl.Series("_r", rng.random(frame.height))
                frame = (frame.with_columns(r).with_columns(pl.col("_r").rank("ordinal").over("user", "label").alias("_k"))
                         .filter((pl.col("label") == 1) | (pl.col("_k") <= self.neg_per_user)).drop("_r", "_k"))
            both = pl.concat([train_frame.with_columns(pl.lit(0).alias("_w")), frame.with_columns(pl.lit(1).alias("_w"))],
                             how="diagonal_relaxed")
            # the same user in both windows is two queries: group by (window, user)
            both = both.with_columns((pl.col("_w").cast(pl.String) + ":" + pl.col("user").cast(pl.String)).alias("user")).drop("_w")
            self.booster_ = lgb.train(params, self._dataset(both.sort(["user", "item"])), num_boost_round=best)
        else:
            self.features_ = drop_matching(feature_columns(frame), self.drop_features)
            self.booster_ = lgb.train(params, self._dataset(frame), num_boost_round=self.num_boost_round)
            self.validation_ = None
        self.fit_seconds_ = {"ranker_window": round(time.perf_counter() - t0, 3)}
        t1 = time.perf_counter()
        self.train_ = interactions
        self.enc_, self.gens_ = self._fit_generators(interactions)
        self.tables_ = FeatureTables.build(interactions, self.side)
        self.fit_seconds_["refit_generators"] = round(time.perf_counter() - t1, 3)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise ConfigError("TwoStageRecommender", expected="a fitted recommender", found="not fitted", fix="call fit(interactions) first")

    def candidates(self, users: pl.Series) -> pl.DataFrame:
        """The merged candidate table for ``users`` (from the refitted generators)."""
        self._check_fitted()
        return merge_candidates(self.gens_, users, exclude_seen=self.exclude_seen, chunk_users=self.chunk_users)

    def recommend(self, users: pl.Series, k: int = 10) -> pl.DataFrame:
        """Top-``k`` items per user as ``user, rank, item, score, source``.

        ``source`` is ``ranker`` for re-ranked candidates and ``popular`` for the fallback: users
        never seen in training (cold start) get the popularity list, and users with fewer than
        ``k`` candidates (an empty or short candidate set) are topped up from it. Users are
        processed ``chunk_users`` at a time.
        """
        self._check_fitted()
        if not isinstance(k, int) or k < 1:
            raise ConfigError("k", expected="a positive integer", found=repr(k))
        if k > self.enc_.n_items:
            raise ConfigError("k", expected=f"at most the catalogue size ({self.enc_.n_items} items seen in training)",
                              found=str(k), fix="ask for fewer recommendations per user")
        users = pl.Series("user", users).unique().sort()
        empty = pl.DataFrame(schema={"user": users.dtype, "rank": pl.Int64, "item": self.enc_.item_series.dtype,
                                     "score": pl.Float64, "source": pl.String})
        known = users.filter(users.is_in(pl.Series(self.enc_.users).implode()))
        parts = [empty]
        for frame in self._frames(self.train_, self.enc_, self.gens_, known, self.tables_):
            if frame.height == 0:
                continue
            for c in self.features_:
                if c not in frame.columns:
                    frame = frame.with_columns(pl.lit(None, pl.Float32).alias(c))
            pred = self.booster_.predict(to_matrix(frame, self.features_), num_threads=self.threads)
            parts.append(frame.select("user", "item").with_columns(pl.Series("score", pred, dtype=pl.Float64))
                         .sort(["user", "score", "item"], descending=[False, True, False])
                         .with_columns(pl.int_range(1, pl.len() + 1).over("user").cast(pl.Int64).alias("rank"))
                         .filter(pl.col("rank") <= k).with_columns(pl.lit("ranker").alias("source"))
                         .select(empty.columns).cast(empty.schema))
        ranked = pl.concat(parts)
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
