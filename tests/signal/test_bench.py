"""Smoke test of benchmarks/signal_frontends.py: tiny sizes, one JSON object with every front-end."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "signal_frontends.py"


def test_benchmark_smoke_json(capsys):
    spec = importlib.util.spec_from_file_location("signal_frontends", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["signal_frontends"] = mod
    try:
        spec.loader.exec_module(mod)
        assert mod.main(["--smoke", "--json", "--threads", "1"]) == 0
    finally:
        sys.modules.pop("signal_frontends", None)
    res = json.loads(capsys.readouterr().out)
    rows = {r["frontend"]: r for r in res["results"]}
    assert set(rows) == {"stft", "mel", "mfcc", "lfcc", "rms", "cwt"}
    assert all(r["cpu_signals_per_s"] > 0 for r in rows.values())
    assert rows["cwt"]["out_shape"] == [4, 512] and rows["stft"]["out_shape"] == [33, 33]
    assert rows["cwt"]["reference_cpu_signals_per_s"] > 0 and "reference_cpu_signals_per_s" not in rows["lfcc"]
