"""The report reads ids and targets only (and, for a GBDT train curve, the columns the run could use):
a train-only auxiliary column and a Parquet list column in the tables change nothing it shows."""

from __future__ import annotations

import re
from pathlib import Path

from medalist.report.data import load_data, load_truth
from medalist.report.html import build_report
from medalist.runs.store import Run, list_runs
from tests.conftest import add_aux_and_list_columns


def _text(info) -> str:
    return re.sub(r"<svg.*?</svg>", "", Path(info["path"]).read_text(), flags=re.DOTALL)


def test_report_ignores_train_only_and_list_columns(trained_ws):
    truth_before = load_truth(trained_ws)
    before = _text(build_report(trained_ws, None, trained_ws.root / "before.html"))
    ws = add_aux_and_list_columns(trained_ws)
    truth, classes, task = load_truth(ws)  # failed before: every column of train was read and prepared
    assert truth.equals(truth_before[0]) and (classes, task) == truth_before[1:]
    assert truth.columns == [ws.competition.id, *ws.competition.targets]
    gbdt = next(r for r in list_runs(ws) if r.record.model == "lightgbm")
    data = load_data(ws, Run.open(ws, gbdt.id))
    assert "is_even" not in data.train.columns and "sig" not in data.train.columns and "sig" not in data.features
    after = _text(build_report(ws, None, ws.root / "after.html"))
    assert "did not load" not in after  # before: "train curves not recomputed (the run's data did not load: ...)"
    for marker in ("recomputed from the saved fold models", f"roc-pr-{gbdt.id}", f"calibration-{gbdt.id}"):
        assert (marker in before) == (marker in after), marker
    assert "recomputed from the saved fold models" in after
