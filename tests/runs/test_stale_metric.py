"""A metric changed in medalist.yaml after runs exist: their CVs are stale in `runs`, `submit` re-scores them."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from medalist.kaggle.submit import submit
from medalist.runs.rescore import current_cv
from medalist.runs.store import Run
from medalist.workspace.data import read_table
from medalist.workspace.paths import Workspace
from tests.conftest import run_medalist


def _oof_and_y(ws: Workspace, run_id: str) -> tuple[np.ndarray, np.ndarray]:
    """The run's OOF and the 0/1 target, joined by id (independently of medalist's own scoring code)."""
    c = ws.competition
    train = read_table(ws.train_path).select(c.id, c.targets[0])
    oof = Run.open(ws, run_id).oof()
    j = oof.join(train.with_columns(pl.col(c.id).cast(oof.schema[c.id])), on=c.id).drop_nulls("pred")
    y = j.get_column(c.targets[0])
    y = (y == sorted(y.unique().to_list())[1]).cast(pl.Int8).to_numpy()
    return j.get_column("pred").to_numpy(), y


def test_runs_record_their_metric_and_a_metric_change_makes_them_stale(trained_ws, monkeypatch, capsys):
    ws = trained_ws
    run = Run.open(ws, "fast-001")
    assert run.record.metric == "auc" == ws.competition.metric
    pred, y = _oof_and_y(ws, "fast-001")
    assert run.cv == pytest.approx(roc_auc_score(y, pred), abs=1e-12)

    s = submit(ws, "fast-001", local=True)  # metric unchanged: the run's own CV, no note
    assert s.cv == run.cv and s.cv_note is None

    ws.config.competition.metric = "logloss"
    ws.save_config()
    ws = Workspace.open(ws.root)
    code, out, _ = run_medalist(monkeypatch, capsys, "runs", "--json")
    assert code == 0
    got = json.loads(out)
    assert got["metric"] == "logloss"
    assert {r["id"]: (r["metric"], r["stale"]) for r in got["runs"]} == {"fast-001": ("auc", True), "lin-001": ("auc", True)}
    code, out, _ = run_medalist(monkeypatch, capsys, "runs")
    assert "(stale)" in out and "stale CV" in out

    cur = current_cv(ws, run)
    assert cur["stale"] and cur["rescored"] and cur["scored_with"] == "auc"
    s = submit(ws, "fast-001", local=True)
    expected = log_loss(y, pred)
    assert s.cv == pytest.approx(expected, rel=1e-9) and s.cv != pytest.approx(run.cv)
    assert s.record["metric"] == "logloss" and s.record["cv"] == s.cv
    assert "re-scored with the current metric logloss" in s.cv_note and "auc = " in s.cv_note
    code, out, _ = run_medalist(monkeypatch, capsys, "submit", "lin-001", "--local")
    assert code == 0 and "re-scored" in out
