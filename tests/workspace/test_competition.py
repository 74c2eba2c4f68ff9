"""Workspaces from competition files, and local competitions with group / time holdouts."""

from __future__ import annotations

import polars as pl

from medalist.cv.runner import train
from medalist.kaggle.submit import submit
from medalist.workspace.competition import init_local_competition, init_workspace
from medalist.workspace.folds import Folds, build_folds
from tests.conftest import COVID, FAST_LGBM


def test_init_from_competition_files_runs_the_loop(covid_template, tmp_path):
    src = covid_template / "data"
    ws = init_workspace(tmp_path / "files", train=src / "train.csv", test=src / "test.csv",
                        sample_submission=src / "sample_submission.csv", target="target", id="rownames",
                        group="subject_id")
    assert ws.competition.task == "binary" and ws.competition.metric == "auc" and ws.competition.answers is None
    assert (ws.root / "data" / "train.csv").read_bytes() == (src / "train.csv").read_bytes()
    assert ws.config.folds.scheme == "stratified-group" and ws.config.folds.group == "subject_id"
    for d in ("configs", "runs", "submissions", "scripts"):
        assert (ws.root / d).is_dir()
    ws.config.tracking = "none"
    ws.save_config()
    (ws.root / "configs" / "fast.yaml").write_text(FAST_LGBM)
    build_folds(ws, scheme="group", k=3)
    run = train(ws, ws.root / "configs" / "fast.yaml", tracking=False)
    s = submit(ws, run.id, message="files")
    assert s.public is None and pl.read_csv(s.file).columns == ["rownames", "target"]


def test_group_holdout_keeps_patients_apart_and_hides_the_answers(covid_template):
    train = pl.read_csv(covid_template / "data" / "train.csv")
    test = pl.read_csv(covid_template / "data" / "test.csv")
    answers = pl.read_parquet(covid_template / ".medalist" / "answers.parquet")
    assert set(train["subject_id"]).isdisjoint(set(test["subject_id"]))
    assert "target" not in test.columns and "result" not in test.columns and "result" not in train.columns
    assert not set(COVID["drop"]) & set(train.columns)
    assert 0.27 < test.height / (train.height + test.height) < 0.33
    assert answers.height == test.height and set(answers["usage"]) == {"Public", "Private"}
    assert 0.04 < train["target"].mean() < 0.08  # ~5.6% positive, as in the source


def test_time_holdout_is_the_future_and_folds_are_time_ordered(tmp_path):
    ws = init_local_competition(tmp_path / "t", COVID["source"], target=COVID["target"], id="rownames",
                                time="pan_day", drop=COVID["drop"])
    tr = pl.read_csv(ws.train_path)
    test = pl.read_csv(ws.test_path)
    assert tr["pan_day"].max() <= test["pan_day"].min()
    assert ws.config.folds.scheme == "time"
    folds, summary = build_folds(ws, k=4, gap=50)
    assert folds.meta["scheme"] == "time" and summary.height >= 4
    ws.config.tracking = "none"
    ws.save_config()
    (ws.root / "configs" / "fast.yaml").write_text(FAST_LGBM)
    run = train(ws, ws.root / "configs" / "fast.yaml", tracking=False)
    oof = run.oof()
    assert oof.filter(pl.col("fold") == -1)["pred"].is_nan().all()  # the first block is never validated
    assert run.metrics["n_validated"] < tr.height and run.metrics["oof"] > 0.6
    assert Folds.load(ws.folds_path).hash == run.info["folds_hash"]
