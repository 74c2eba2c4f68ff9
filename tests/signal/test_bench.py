"""Smoke test of benchmarks/signal_frontends.py: tiny sizes, one JSON object with every front-end."""

from __future__ import annotations

import json

from tests.conftest import load_benchmark


def test_benchmark_smoke_json(capsys):
    mod = load_benchmark("signal_frontends")
    assert mod.main(["--smoke", "--json", "--threads", "1"]) == 0
    res = json.loads(capsys.readouterr().out)
    rows = {r["frontend"]: r for r in res["results"]}
    assert set(rows) == {"stft", "mel", "mfcc", "lfcc", "rms", "cwt"}
    assert all(r["cpu_signals_per_s"] > 0 for r in rows.values())
    assert rows["cwt"]["out_shape"] == [4, 512] and rows["stft"]["out_shape"] == [33, 33]
    assert rows["cwt"]["reference_cpu_signals_per_s"] > 0 and "reference_cpu_signals_per_s" not in rows["lfcc"]
