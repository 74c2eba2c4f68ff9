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
