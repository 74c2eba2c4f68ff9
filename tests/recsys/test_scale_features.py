"""Sparse candidates agree with the dense reference; ranker validation, sampling, ablation, side tables, bad input."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from medalist.core.errors import ConfigError, DataError
from medalist.recsys import EncodedTrain, TwoStageRecommender, make_generator, normalize_interactions
from medalist.recsys.candidates import CandidateGenerator
from medalist.recsys.features import SideTable
from medalist.recsys.interactions import check_split_order, time_split

from .conftest import log


@pytest.fixture(scope="module")
def random_log():
    rng = np.random.default_rng(1)
    n = 3000
    return pl.DataFrame({"user": rng.integers(0, 120, n), "item": rng.integers(0, 80, n),
                         "time": np.sort(rng.uniform(0, 60 * 86400.0, n)), "weight": rng.integers(1, 4, n).astype(float)})


@pytest.mark.parametrize("spec", [{"name": "popular"}, {"name": "recent", "window_days": 7},
                                  {"name": "recent", "relative_to": "global"}, {"name": "covisit"},
                                  {"name": "covisit", "weighted": True}, {"name": "history", "recency_days": 5.0}])
def test_sparse_candidates_match_the_dense_reference(spec, random_log):
    g = make_generator({**spec, "k": 9}).fit(EncodedTrain.build(random_log))
    users = pl.Series("user", list(range(125)))  # 120..124 are cold
    exclude = not g.repeats
    sparse = g.candidates(users, exclude_seen=exclude, chunk_users=17)  # several chunks
    g.sparse_scores = lambda rows, depth: CandidateGenerator.sparse_scores(g, rows, depth)  # dense fallback
    dense = g.candidates(users, exclude_seen=exclude)
    assert sparse.height > 0 and sparse.sort(["user", "rank"]).equals(dense.sort(["user", "rank"]))
    g.pair_scores = lambda rows, cols: CandidateGenerator.pair_scores(g, rows, cols)
    np.testing.assert_allclose(g.score_pairs(sparse.select("user", "item")), sparse["score"].to_numpy(), rtol=1e-5)


def test_covisit_keeps_top_neighbours_per_item(random_log):
    g = make_generator({"name": "covisit", "top": 3}).fit(EncodedTrain.build(random_log))
    assert np.diff(g.co_.indptr).max() == 3


def test_validated_ranker_sampling_and_ablation(movielens):
    small = movielens.filter(pl.col("user") <= 120)
    cands = [{"name": "popular", "k": 20}, {"name": "covisit", "k": 20}]
    rec = TwoStageRecommender(candidates=cands, num_boost_round=300, early_stopping_rounds=10, neg_per_user=10,
                              max_users=80, drop_features=["s_*", "mf_*"], chunk_users=50).fit(small)
    v = rec.validation_
    assert 1 <= v["best_iteration"] < 300 and v["metric"] == "ndcg@10"
    assert v["train_window"]["ranker_users"] == 80 and v["valid_window"]["ranker_users"] == 80
    assert not any(f.startswith("s_") for f in rec.features_) and "covisit_score" in rec.features_
    out = rec.recommend(pl.Series("user", [1, 2, 3]), k=5)
    assert out.group_by("user").len()["len"].to_list() == [5, 5, 5]
    with pytest.raises(ConfigError, match="catalogue size"):
        rec.recommend(pl.Series("user", [1]), k=100_000)


def test_session_and_side_features(movielens):
    small = movielens.filter(pl.col("user") <= 60)
    items = small.group_by("item").agg(pl.col("weight").max().alias("best"), pl.lit("x").alias("kind"))
    side = [SideTable(items.rename({"item": "movie"}), key="movie", prefix="movie_")]
    rec = TwoStageRecommender(candidates=[{"name": "popular", "k": 20}], num_boost_round=5, side=side).fit(small)
    assert {"movie_best", "movie_kind", "s_n_day", "s_gap_days", "ui_n"} <= set(rec.features_)
    dup = pl.concat([items, items.head(2)]).rename({"item": "movie"})
    with pytest.raises(DataError, match="duplicated keys"):
        TwoStageRecommender(candidates=["popular"], side=[SideTable(dup, key="movie")]).fit(small)


def test_bad_input_errors():
    with pytest.raises(DataError, match="nulls"):
        normalize_interactions(pl.DataFrame({"user": [1, None], "item": [1, 2], "time": [1, 2]}))
    with pytest.raises(DataError, match="nulls"):
        normalize_interactions(pl.DataFrame({"user": [1, 2], "item": [None, 2], "time": [1, 2]}))
    df = log([(1, "a", 0), (1, "b", 1), (1, "c", 2), (2, "a", 5)])
    s = time_split(df, holdout=1, min_train=2)
    check_split_order(s.train, s.valid)  # ordered: fine
    with pytest.raises(DataError, match="times out of order.*user 1"):
        check_split_order(s.valid, s.train)
