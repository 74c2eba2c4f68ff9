"""`medalist demo`: the README's main job, offline, on covid_testing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import polars as pl


def test_demo_end_to_end_via_cli(tmp_path):
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "medalist.cli.app", "demo", str(tmp_path / "d"), "--json"],
                         capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    root = tmp_path / "d"
    rows = {r["model"]: r for r in res["rows"]}
    lgbm, linear = rows["lightgbm"], rows["sklearn:sklearn.linear_model.LogisticRegression"]
    # LightGBM on group folds by patient: well above chance (0.5), and it generalises to the hidden test
    assert lgbm["cv"] > 0.77 and lgbm["public"] > 0.72 and lgbm["private"] > 0.72
    assert linear["cv"] > 0.62
    assert lgbm["cv"] > linear["cv"]
    assert (root / "folds.parquet").is_file() and (root / "mlflow.db").stat().st_size > 0
    for r in res["rows"]:
        assert (root / "runs" / r["run"] / "oof.parquet").is_file()
        assert (root / "runs" / r["run"] / "test.parquet").is_file()
        assert Path(r["submission"]).is_file()
    ledger = pl.read_parquet(root / "submissions" / "submissions.parquet")
    assert ledger.height == 2 and ledger["public"].null_count() == 0
    assert seconds < 180
