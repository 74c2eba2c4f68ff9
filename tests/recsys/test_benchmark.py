"""Smoke test of benchmarks/recsys_movielens.py: one JSON object with the table and a real lift."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "recsys_movielens.py"


@pytest.mark.slow
def test_benchmark_json(capsys):
    spec = importlib.util.spec_from_file_location("recsys_movielens", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--json", "--rounds", "40", "--cand-k", "30"]) == 0
    out = json.loads(capsys.readouterr().out)
    stages = [r["stage"] for r in out["table"]]
    assert stages[0] == "popularity (baseline)" and stages[-1] == "re-ranker (lambdarank)"
    assert "candidates: merged" in stages and out["lift_map"] > 1.5
    assert out["users"] == 671 and out["interactions"] == 100_004
