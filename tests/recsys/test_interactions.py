from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from medalist.core.errors import ConfigError, DataError
from medalist.recsys import Interactions, normalize_interactions, time_split

from .conftest import log


def test_normalize_renames_and_types():
    raw = pl.DataFrame({"u": ["a", "a"], "i": [1, 2], "t": [datetime(2020, 1, 1), datetime(2020, 1, 2)], "r": [4, 5]})
    df = normalize_interactions(raw, Interactions("u", "i", "t", "r"))
    assert df.columns == ["user", "item", "time", "weight"]
    assert df["time"].to_list() == [1577836800.0, 1577923200.0]
    assert df["weight"].dtype == pl.Float64


def test_normalize_missing_column_names_it_with_did_you_mean():
    with pytest.raises(DataError, match=r"item column 'movieid'.*did you mean 'movieId'"):
        normalize_interactions(pl.DataFrame({"user": [1], "movieId": [2], "time": [3]}), Interactions(item="movieid"))


def test_normalize_rejects_nulls_and_empty_and_text_time():
    with pytest.raises(DataError, match="nulls"):
        normalize_interactions(pl.DataFrame({"user": [1, None], "item": [2, 3], "time": [1, 2]}))
    with pytest.raises(DataError, match="empty"):
        normalize_interactions(pl.DataFrame({"user": [], "item": [], "time": []}, schema={"user": pl.Int64, "item": pl.Int64, "time": pl.Int64}))
    with pytest.raises(DataError, match="numbers .seconds. or datetimes"):
        normalize_interactions(pl.DataFrame({"user": [1], "item": [2], "time": ["yesterday"]}))


def test_time_split_holds_out_last_interactions_per_user():
    df = log([(1, "a", 1), (1, "b", 2), (1, "c", 3), (1, "d", 4), (2, "a", 5), (2, "e", 1), (3, "x", 1)])
    s = time_split(df, holdout=1, min_train=1)
    assert sorted(s.valid.select("user", "item").rows()) == [(1, "d"), (2, "a")]
    assert s.train.height == 5 and 3 in s.train["user"].to_list()  # user 3 too short: train only
    assert dict(s.truth().rows()) == {1: ["d"], 2: ["a"]}
    # every held-out row is later than the same user's training rows
    last_train = s.train.group_by("user").agg(pl.col("time").max().alias("t"))
    assert s.valid.join(last_train, on="user").select((pl.col("time") >= pl.col("t")).all()).item()


def test_time_split_errors():
    df = log([(1, "a", 1), (1, "b", 2)])
    with pytest.raises(DataError, match="at least 6 interactions"):
        time_split(df, holdout=1, min_train=5)
    with pytest.raises(ConfigError, match="holdout"):
        time_split(df, holdout=0)


def test_movielens_split_shape(movielens):
    assert movielens.height == 100_004 and movielens["user"].n_unique() == 671
    s = time_split(movielens, holdout=5, min_train=5)
    assert s.valid.height == 5 * 671 and s.train.height + s.valid.height == movielens.height
