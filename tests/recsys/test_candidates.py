from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from medalist.core.errors import ConfigError
from medalist.recsys import GENERATORS, EncodedTrain, list_generators, make_generator

from .conftest import log


def _cands(spec, df, users, **kw):
    g = make_generator(spec).fit(EncodedTrain.build(df))
    return g, g.candidates(pl.Series("user", users), **kw)


def _items(c: pl.DataFrame, user) -> list:
    return c.filter(pl.col("user") == user).sort("rank")["item"].to_list()


def test_popular_ranks_by_distinct_users_and_skips_seen():
    df = log([(1, "a", 0), (2, "a", 0), (3, "a", 0), (2, "b", 1), (3, "b", 1), (3, "c", 2), (3, "c", 3)])
    _, c = _cands({"name": "popular", "k": 5}, df, [1, 3])
    assert _items(c, 1) == ["b", "c"]  # a is seen; c counts once although user 3 saw it twice
    assert _items(c, 3) == []  # user 3 has seen everything: an empty candidate set, not an error
    _, c = _cands({"name": "popular", "k": 5}, df, [1], exclude_seen=False)
    assert _items(c, 1) == ["a", "b", "c"] and c["score"].to_list() == [3.0, 2.0, 1.0]


def test_covisit_hand_computed():
    df = log([(1, "a", 0), (1, "b", 0.5), (1, "c", 5),  # c is 4.5 days after b: outside a 1-day window
              (2, "a", 0), (2, "d", 0.1), (4, "a", 0), (4, "d", 0.2), (3, "a", 10)])
    g, c = _cands({"name": "covisit", "k": 10, "window_days": 1, "normalize": False}, df, [3])
    assert _items(c, 3) == ["d", "b"] and c.sort("rank")["score"].to_list() == [2.0, 1.0]
    assert g.co_.nnz == 4  # a-b, b-a, a-d, d-a


def test_recent_is_relative_to_the_users_time():
    rows = [(u, "x", 0) for u in (10, 11, 12)] + [(u, "y", 100) for u in (13, 14)]
    df = log(rows + [(1, "z", 1), (2, "z", 101)])
    _, c = _cands({"name": "recent", "k": 5, "window_days": 5}, df, [1, 2])
    assert _items(c, 1) == ["x"] and _items(c, 2) == ["y"]
    _, c = _cands({"name": "recent", "k": 5, "window_days": 5, "relative_to": "global"}, df, [1])
    assert _items(c, 1) == ["y", "z"] or _items(c, 1) == ["y"]  # only the last 5 days of the log count


def test_history_proposes_repeats_by_weight():
    df = log([(1, "a", 0), (1, "b", 1), (1, "b", 2), (2, "c", 0)])
    _, c = _cands({"name": "history", "k": 5}, df, [1], exclude_seen=False)
    assert _items(c, 1) == ["b", "a"]


def test_mf_recovers_block_structure():
    block1 = [(u, i, 0) for u in range(10) for i in "abc"]
    block2 = [(u, i, 0) for u in range(10, 20) for i in "xyz"]
    df = log(block1 + block2 + [(99, "a", 0), (99, "b", 0)])
    _, c = _cands({"name": "mf", "k": 1, "factors": 2}, df, [99])
    assert _items(c, 99) == ["c"]


def test_mf_als_backend():
    pytest.importorskip("implicit")
    block1 = [(u, i, 0) for u in range(10) for i in "abc"]
    block2 = [(u, i, 0) for u in range(10, 20) for i in "xyz"]
    df = log(block1 + block2 + [(99, "a", 0), (99, "b", 0)])
    _, c = _cands({"name": "mf", "k": 1, "factors": 4, "backend": "als", "iterations": 10}, df, [99])
    assert _items(c, 99) == ["c"]


def test_cold_user_only_from_history_free_generators():
    df = log([(1, "a", 0), (1, "b", 0), (2, "a", 0)])
    _, pop = _cands("popular", df, ["new"])
    _, cov = _cands("covisit", df, ["new"])
    assert _items(pop, "new") == ["a", "b"] and cov.height == 0


@pytest.fixture(scope="module")
def random_log():
    rng = np.random.default_rng(0)
    n = 600
    return pl.DataFrame({"user": rng.integers(0, 30, n), "item": rng.integers(0, 40, n),
                         "time": np.sort(rng.uniform(0, 30 * 86400.0, n)), "weight": rng.uniform(1, 5, n)})


@pytest.mark.parametrize("name", list_generators())
def test_generator_contract(name, random_log):
    exclude = not GENERATORS.get(name).repeats
    g, c = _cands({"name": name, "k": 7}, random_log, list(range(35)), exclude_seen=exclude)
    assert c.columns == ["user", "item", "score", "rank"]
    per_user = c.group_by("user").agg(pl.col("rank").sort().alias("r"), pl.len().alias("n"))
    assert per_user["n"].max() <= 7
    assert all(r == list(range(1, len(r) + 1)) for r in per_user["r"].to_list())
    assert c.select(pl.struct("user", "item").is_duplicated().any()).item() is False
    seen = random_log.select("user", "item").unique()
    if exclude:
        assert c.join(seen, on=["user", "item"], how="semi").height == 0
    # scores are non-increasing in rank, and score_pairs agrees with the candidates' own scores
    assert c.sort(["user", "rank"]).select((pl.col("score").diff().over("user").fill_null(0) <= 1e-6).all()).item()
    np.testing.assert_allclose(g.score_pairs(c.select("user", "item")), c["score"].to_numpy(), rtol=1e-5)


def test_make_generator_errors():
    with pytest.raises(ConfigError, match="did you mean 'covisit'"):
        make_generator("covisits")
    with pytest.raises(ConfigError, match="'windw_days'.*did you mean 'window_days'"):
        make_generator({"name": "covisit", "windw_days": 2})
    with pytest.raises(ConfigError, match="positive integer"):
        make_generator({"name": "popular", "k": 0})
    with pytest.raises(ConfigError, match="'svd' or 'als'"):
        make_generator({"name": "mf", "backend": "nmf"})


def test_als_without_implicit_names_the_extra(monkeypatch):
    import sys

    from medalist.core.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "implicit", None)
    monkeypatch.setitem(sys.modules, "implicit.als", None)
    g = make_generator({"name": "mf", "backend": "als"})
    with pytest.raises(MissingDependencyError, match=r"pip install 'medalist\[recsys\]'"):
        g.fit(EncodedTrain.build(log([(1, "a", 0), (2, "b", 0)])))
