"""benchmarks/twentyq_bench.py: the information bound it compares with, and a tiny run."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.conftest import load_benchmark


@pytest.fixture(scope="module")
def script():
    return load_benchmark("twentyq_bench")


def test_information_bound(script):
    assert script.information_bound(578, False)[0] == pytest.approx(4198 / 578) and round(4198 / 578, 3) == 7.263
    assert script.information_bound(578, False)[1] == 9
    assert script.information_bound(578, True) == (pytest.approx(4767 / 578), 10) and round(4767 / 578, 3) == 8.247
    assert script.information_bound(2, False) == (1.0, 1)


@pytest.mark.skipif(importlib.util.find_spec("kaggle_environments") is None,
                    reason="kaggle-environments==1.18.0 (medalist[twentyq]) is not installed")
def test_tiny_run_json(script, capsys):
    assert script.main(["--limit", "12", "--only", "exact,exact+handshake", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for name in ("exact", "exact+handshake"):
        r = out[name]
        assert r["solve_rate"] == 1.0 and r["mean_rounds"] == pytest.approx(r["bound_mean"])
        assert r["worst_round"] == r["bound_worst"]
