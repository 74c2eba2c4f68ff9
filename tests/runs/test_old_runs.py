"""Run folders written by medalist 0.1.0 open, read, show, list and blend with this version."""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from medalist.runs.store import Run, list_runs
from tests.conftest import run_medalist

from .conftest import OLD


def test_open_and_read_a_0_1_0_run(old_ws):
    run = Run.open(old_ws, "fast-001")
    rec = run.record
    assert rec.schema_version is None and rec.model == "lightgbm" and rec.status == "done" and run.status == "done"
    assert rec.task == "binary" and rec.classes == [0, 1] and rec.pred_columns == ["pred"] and rec.seeds == [42]
    oof, test = run.oof(), run.test()
    train = pl.read_csv(old_ws.train_path)
    assert oof.columns == ["rownames", "fold", "pred"] and oof.height == train.height
    assert test.height == pl.read_csv(old_ws.test_path).height
    assert run.cv == json.loads((OLD / "runs" / "fast-001" / "metrics.json").read_text())["oof"] == rec.cv
    assert [r.id for r in list_runs(old_ws)] == ["fast-001", "lin-001", "blend-hill-climb-001"]
    blend = Run.open(old_ws, "blend-hill-climb-001").record
    assert blend.members == ["fast-001", "lin-001"] and blend.config is None and blend.model == "blend:hill-climb"


def test_show_and_runs_json_on_0_1_0_runs(old_ws, monkeypatch, capsys):
    code, out, err = run_medalist(monkeypatch, capsys, "show", "fast-001", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["info"] == json.loads((OLD / "runs" / "fast-001" / "run.json").read_text())  # the file, as it is
    assert shown["metrics"]["metric"] == "auc"
    code, out, err = run_medalist(monkeypatch, capsys, "runs", "--json")
    assert code == 0, err
    rows = {r["id"]: r for r in json.loads(out)["runs"]}
    assert set(rows) == {"fast-001", "lin-001", "blend-hill-climb-001"}
    assert rows["lin-001"]["model"].startswith("sklearn:") and rows["fast-001"]["status"] == "done"
    assert rows["blend-hill-climb-001"]["note"] == "hill-climb blend of fast-001, lin-001"


def test_blend_0_1_0_runs_writes_a_versioned_run(old_ws):
    from medalist.ensemble import blend

    run = blend(old_ws, ["fast-001", "lin-001"], "mean", tracking=False)
    rec = run.record
    assert rec.schema_version == 1 and rec.status == "done" and rec.members == ["fast-001", "lin-001"]
    assert rec.folds_hash == Run.open(old_ws, "fast-001").record.folds_hash
    a, b = Run.open(old_ws, "fast-001").oof()["pred"].to_numpy(), Run.open(old_ws, "lin-001").oof()["pred"].to_numpy()
    got = run.oof()["pred"].to_numpy()
    ok = ~np.isnan(got)
    assert ok.any() and np.allclose(got[ok], ((a + b) / 2)[ok])
    raw = json.loads((run.path / "run.json").read_text())
    assert "tracking_error" not in raw and "mlflow_run_id" not in raw and "error" not in raw
