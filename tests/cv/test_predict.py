"""Re-predicting a finished run from its saved models gives exactly what `medalist train` wrote.

The covid runs here use every input a code-competition pipeline has: another run's OOF as a feature
(ranked), target encoding fitted inside each fold, group aggregates over train+test and
model_selection_by (clinics unseen in a fold's train rows get the reduced model).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medalist.cv.predict import predict_run
from medalist.cv.runner import train
from medalist.runs.graph import build_graph, run_inputs
from medalist.runs.store import Run
from tests.conftest import CHAIN

def test_predict_run_reproduces_test_predictions_exactly(chain):
    ws, base, top = chain
    for run in (base, top):
        got = predict_run(run.path, ws)
        want = run.test()["pred"].to_numpy()
        assert np.array_equal(got, want), (run.id, float(np.abs(got - want).max()))
    # the chain really used both models: some test rows have clinics no fold's train rows had
    share = top.metrics["model_selection_by"]["test_known_share"]
    assert 0.5 < share < 1.0


def test_predict_run_follows_the_upstream_runs_new_predictions(chain):
    """The oof_feature of test rows comes from the upstream run's test.parquet of *this* workspace: change it,
    and the downstream prediction changes (a package re-predicts upstream runs first)."""
    ws, base, top = chain
    before = predict_run(top.path, ws)
    t = base.test()
    (base.path / "test.parquet").write_bytes(b"")
    t.with_columns((1 - t["pred"]).alias("pred")).write_parquet(base.path / "test.parquet")  # reversed ranks
    after = predict_run(top.path, ws)
    assert not np.allclose(before, after)


@pytest.mark.slow
def test_full_fit_run_is_reproduced(covid_ws):
    ws = covid_ws
    base = train(ws, Path("configs/fast.yaml"), tracking=False)
    cfg = ws.root / "configs" / "chain_full.yaml"
    cfg.write_text(CHAIN.format(base=base.id, full_fit="true"))
    top = train(ws, cfg, tracking=False)
    assert np.array_equal(predict_run(top.path, ws), top.test()["pred"].to_numpy())


def test_runs_record_their_inputs_and_the_graph_orders_them(chain):
    ws, base, top = chain
    rec = top.record.inputs
    assert rec["predict_from"] == [base.id] and rec["in_fold"] == ["target_encode"] and rec["tables"] == []
    g = build_graph(ws.runs_dir, [top.id])
    assert g.order == [base.id, top.id]
    assert run_inputs(base.path).predict_from == []


def test_graph_names_a_missing_or_unfinished_upstream_run(chain):
    from medalist.core.errors import RunError

    ws, base, top = chain
    import shutil

    rec = base.record
    rec.status = "running"
    rec.save(base.path / "run.json")
    with pytest.raises(RunError, match=rf"run '{base.id}' \(an input of '{top.id}'\).*status 'running'"):
        build_graph(ws.runs_dir, [top.id])
    shutil.rmtree(base.path)
    with pytest.raises(RunError, match=rf"run '{base.id}' \(an input of '{top.id}'\).*no such run"):
        build_graph(ws.runs_dir, [top.id])
    assert Run.open(ws, top.id).status == "done"
