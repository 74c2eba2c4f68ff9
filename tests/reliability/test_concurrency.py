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
    cmd = [sys.executable, "-m", "medalist.cli", "train", "configs/fast.yaml", "threads=1"]
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
