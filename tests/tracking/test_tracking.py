"""MLflow tracking: values read back with MlflowClient; secrets never reach the store."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from medalist.core.config import TrackingConfig
from medalist.cv.runner import train
from medalist.tracking.mlflow import flatten, scrub

pytest.importorskip("mlflow")


def test_run_is_mirrored_into_sqlite_mlflow(covid_ws):
    from mlflow.tracking import MlflowClient

    root = covid_ws.root
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init", "--allow-empty"], cwd=root, check=True)
    covid_ws.config.tracking = TrackingConfig()  # the default: SQLite in the workspace
    covid_ws.save_config()
    run = train(covid_ws, Path("configs/fast.yaml"), ["model.params.kaggle_key=0123456789abcdef0123456789abcdef"])
    assert (root / "mlflow.db").is_file()
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    mrun = client.get_run(run.info["mlflow_run_id"])
    assert mrun.data.tags["mlflow.runName"] == run.id
    assert mrun.data.tags["medalist.folds_hash"] == run.info["folds_hash"]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    assert mrun.data.tags["mlflow.source.git.commit"] == commit
    assert mrun.data.params["model.params.learning_rate"] == "0.1"
    assert mrun.data.metrics["cv_auc"] == pytest.approx(run.cv)
    history = client.get_metric_history(mrun.info.run_id, "fold_score")
    assert [m.step for m in history] == [0, 1, 2]
    assert [m.value for m in history] == pytest.approx([f["score"] for f in run.metrics["folds"]])
    # secrets: neither the key name nor the value is stored anywhere in MLflow
    assert not any("kaggle_key" in k for k in mrun.data.params)
    assert not any("0123456789abcdef0123456789abcdef" in v for v in mrun.data.params.values())
    arts = {a.path for a in client.list_artifacts(mrun.info.run_id)}
    assert {"config.yaml", "metrics.json"} <= arts


def test_scrub_drops_secret_keys_and_values():
    params = flatten({"kaggle": {"key": "x", "username": "me"}, "api_token": "t", "a": {"b": 1}, "c": "KGAT_abc123"})
    assert scrub(params) == {"kaggle.username": "me", "a.b": 1}
