"""Smoke test of benchmarks/recsys_movielens.py: one JSON object with the table and a real lift."""

from __future__ import annotations

import json

import pytest

from tests.conftest import load_benchmark


@pytest.mark.slow
def test_benchmark_json(capsys):
    mod = load_benchmark("recsys_movielens")
    assert mod.main(["--json", "--rounds", "40", "--cand-k", "30"]) == 0
    out = json.loads(capsys.readouterr().out)
    stages = [r["stage"] for r in out["table"]]
    assert stages[0] == "popularity (baseline)" and stages[-1] == "re-ranker (lambdarank)"
    assert "candidates: merged" in stages and out["lift_map"] > 1.5
    assert out["users"] == 671 and out["interactions"] == 100_004


@pytest.mark.slow  # ~15 s: two tiled sizes, each in its own process
def test_scale_benchmark_json(capsys):
    mod = load_benchmark("recsys_scale")
    assert mod.main(["--events", "5e4", "100004", "--rounds", "20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["rows"]
    assert [r["events"] for r in rows] == [50_000, 100_004] and all("error" not in r for r in rows)
    assert rows[1]["users"] == 671 and rows[1]["items"] == 9066  # one whole MovieLens tile
    assert all(r["peak_rss_mib"] > 0 and r["rec_rows"] == 12 * r["users"] for r in rows)
    assert out["time_exponent"] is not None
