"""Two processes in one workspace at once: distinct run ids, both complete, one consistent MLflow store."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml


def test_two_trains_at_once_get_distinct_ids_and_both_reach_mlflow(covid_ws):
    pytest.importorskip("mlflow")
    root = covid_ws.root
    data = yaml.safe_load((root / "medalist.yaml").read_text())
    data.pop("tracking", None)  # the default: SQLite mlflow.db in the workspace, shared by both
    (root / "medalist.yaml").write_text(yaml.safe_dump(data))
    cmd = [sys.executable, "-m", "medalist.cli.app", "train", "configs/fast.yaml", "threads=1"]
    procs = [subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert "warning:" not in err, err  # both reached MLflow: no lost tracking
    runs = sorted(p.name for p in (root / "runs").iterdir())
    assert runs == ["fast-001", "fast-002"]
    infos = [json.loads((root / "runs" / r / "run.json").read_text()) for r in runs]
    assert all(i["status"] == "done" for i in infos)
    assert infos[0]["config_hash"] == infos[1]["config_hash"]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    exps = client.search_experiments()
    found = client.search_runs([e.experiment_id for e in exps])
    assert sorted(r.data.tags["medalist.run_id"] for r in found) == runs
    assert {r.info.run_id for r in found} == {i["mlflow_run_id"] for i in infos}
    for r in found:
        assert r.info.status == "FINISHED" and "cv_auc" in r.data.metrics


TUNED = """\
model:
  name: lightgbm
  params: {learning_rate: 0.1, num_leaves: 15, min_child_samples: 20, verbosity: -1}
  early_stopping_rounds: 10
  num_boost_round: 30
threads: 1
tune:
  seed: 3
  space:
    model.params.learning_rate: {type: float, low: 0.001, high: 0.3, log: true}
    model.params.num_leaves: {type: int, low: 2, high: 64, log: true}
"""


def test_two_tune_workers_on_one_sqlite_study_do_not_corrupt_it(covid_ws):
    optuna = pytest.importorskip("optuna")
    import os
    import sqlite3

    root = covid_ws.root
    (root / "configs" / "tuned.yaml").write_text(TUNED)
    storage = f"sqlite:///{root / 'study.db'}"
    cmd = [sys.executable, "-m", "medalist.cli.app", "tune", "configs/tuned.yaml", "--trials", "6", "--storage", storage,
           "--study", "s", "--worker", "--no-track", "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    with sqlite3.connect(root / "study.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    trials = optuna.load_study(study_name="s", storage=storage).trials
    numbers = sorted(t.number for t in trials)
    assert numbers == list(range(len(trials))) and 6 <= len(trials) <= 7
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    runs = [t.user_attrs["run"] for t in trials]
    assert len(set(runs)) == len(runs)  # distinct run ids across the two processes
    assert all(json.loads((root / "runs" / r / "run.json").read_text())["status"] in ("done", "pruned") for r in runs)
    mine = [set(json.loads(out)["mine"]) for out, _ in outs]
    assert not (mine[0] & mine[1]) and (mine[0] | mine[1]) == set(numbers)
