"""``gap`` in time units on time folds: train rows at least that long before the validation block."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from medalist.core.errors import ConfigError
from medalist.workspace.folds import make_folds
from medalist.workspace.folds.schemes import parse_gap


def _table(n_days: int = 120, per_day: int = 5, hourly: bool = False) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    start = datetime(2013, 1, 1) if hourly else date(2013, 1, 1)
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    t = [start + step * d for d in range(n_days) for _ in range(per_day)]
    n = len(t)
    return pl.DataFrame({"id": np.arange(n), "y": rng.normal(size=n), "t": t}).sample(fraction=1.0, shuffle=True, seed=1)


@pytest.mark.parametrize("gap, need", [("7d", timedelta(days=7)), ("14d", timedelta(days=14))])
def test_time_gap_leaves_that_much_time_between_train_and_valid(gap, need):
    df = _table()
    folds = make_folds(df, id_col="id", target=["y"], task="regression", scheme="time", k=4, time="t", gap=gap)
    t = df.get_column("t").to_list()
    splits = folds.splits(df)
    assert [s.fold for s in splits] == [0, 1, 2, 3] and folds.meta["gap"] == gap
    for s in splits:
        first_valid = min(t[i] for i in s.valid_idx)
        last_train = max(t[i] for i in s.train_idx)
        assert first_valid - last_train >= need  # the actual timestamps
        assert first_valid - last_train < need + timedelta(days=1)  # and no more than the next whole day
        assert s.train_idx.size > 0


def test_without_a_time_gap_train_touches_valid():
    df = _table()
    folds = make_folds(df, id_col="id", target=["y"], task="regression", scheme="time", k=4, time="t", gap=0)
    t = df.get_column("t").to_list()
    for s in folds.splits(df):
        assert min(t[i] for i in s.valid_idx) - max(t[i] for i in s.train_idx) == timedelta(days=1)


def test_hour_gap_on_datetimes_and_refusals():
    df = _table(n_days=200, hourly=True)
    folds = make_folds(df, id_col="id", target=["y"], task="regression", scheme="time", k=3, time="t", gap="12h")
    t = df.get_column("t").to_list()
    for s in folds.splits(df):
        assert min(t[i] for i in s.valid_idx) - max(t[i] for i in s.train_idx) == timedelta(hours=12)
    assert parse_gap("7d") == (0, "7d") and parse_gap(3) == (3, None)
    with pytest.raises(ConfigError, match="7d"):
        parse_gap("a week")
    from medalist.core.errors import DataError

    with pytest.raises(DataError, match="at least 30d before the first validation block"):  # blocks are 24 days long
        make_folds(_table(), id_col="id", target=["y"], task="regression", scheme="time", k=4, time="t", gap="30d")
    num = df.with_columns(pl.col("id").alias("tn"))
    with pytest.raises(ConfigError, match="date/datetime"):
        make_folds(num, id_col="id", target=["y"], task="regression", scheme="time", k=3, time="tn", gap="7d")


def test_cli_gap_rows_or_span(covid_ws, monkeypatch, capsys):
    from tests.conftest import run_medalist

    code, out, err = run_medalist(monkeypatch, capsys, "folds", "--scheme", "time", "--time", "pan_day", "--k", "4",
                                  "--gap", "50", "--force")
    assert code == 0, err
    assert covid_ws.__class__.open(covid_ws.root).config.folds.gap == 50  # digits are rows
    code, out, err = run_medalist(monkeypatch, capsys, "folds", "--scheme", "time", "--time", "pan_day", "--k", "4",
                                  "--gap", "7d", "--force")
    assert code == 2 and "date/datetime" in err and "pan_day" in err  # a day number is not a date
