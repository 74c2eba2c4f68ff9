"""Reading tables: lazy scans read only the columns a run uses; errors still name the file and column."""

from __future__ import annotations

import polars as pl
import pytest

from medalist.core.config import ColumnsConfig
from medalist.core.errors import DataError
from medalist.workspace.data import load_competition_data, read_table, table_columns


def test_read_table_projects_columns_and_names_missing_ones(tmp_path):
    f = tmp_path / "t.parquet"
    pl.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [0.5, 1.5]}).write_parquet(f)
    assert read_table(f, columns=["c", "a"]).columns == ["c", "a"]
    assert table_columns(f) == ["a", "b", "c"]
    with pytest.raises(DataError, match=r"'bb'.*did you mean 'b'"):
        read_table(f, columns=["a", "bb"])


def test_csv_scan_skips_unused_columns(tmp_path):
    # column 'bad' is unparseable as the number its first rows suggest; a projected read never parses it
    f = tmp_path / "t.csv"
    f.write_text("a,bad\n" + "".join(f"{i},{i}\n" for i in range(60_000)) + "1,oops\n")
    assert read_table(f, columns=["a"]).height == 60_001
    with pytest.raises(DataError, match="t.csv"):
        read_table(f)


def test_run_data_reads_only_used_columns(covid_ws):
    data = load_competition_data(covid_ws, ColumnsConfig(use=["age", "gender"]))
    comp = covid_ws.competition
    assert set(data.train.columns) == {comp.id, *comp.targets, comp.group, "age", "gender"}
    assert data.features == ["age", "gender"]
    assert "pan_day" in table_columns(covid_ws.train_path)


def test_missing_used_column_is_named_with_the_file(covid_ws):
    with pytest.raises(DataError, match=r"feature 'agee'.*did you mean 'age'"):
        load_competition_data(covid_ws, ColumnsConfig(use=["agee"]))
    with pytest.raises(DataError, match=r"dropped column 'pan_dayy'"):
        load_competition_data(covid_ws, ColumnsConfig(drop=["pan_dayy"]))
