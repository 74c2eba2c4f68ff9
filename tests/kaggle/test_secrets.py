"""The Kaggle key never reaches a run artifact, MLflow record, log, ledger, report or bundle."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from medalist.cli.app import app
from tests.conftest import KEY, LGBM, USER

runner = CliRunner()


def _ok(*args):
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    assert KEY not in res.output
    return res.output


def test_planted_key_is_nowhere(trained_ws, stub, kaggle_env, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    # the key in both places the client reads: the environment and kaggle.json
    (kaggle_env / ".kaggle" / "kaggle.json").write_text(json.dumps({"username": USER, "key": KEY}))
    (kaggle_env / ".kaggle" / "kaggle.json").chmod(0o600)
    files = {n: p.read_bytes() for n, p in (("train.csv", trained_ws.train_path), ("test.csv", trained_ws.test_path),
                                            ("sample_submission.csv", trained_ws.sample_submission_path))}
    stub.add_competition("covid-comp", files)
    root = tmp_path / "kws"
    _ok("init", str(root), "--from-kaggle", "covid-comp")
    shutil.copy(trained_ws.folds_path, root / "folds.parquet")
    monkeypatch.chdir(root)
    (root / "configs" / "fast.yaml").write_text(LGBM)
    # tracking on: MLflow's SQLite store inside the workspace
    cfg = (root / "medalist.yaml").read_text()
    assert "tracking: none" not in cfg
    _ok("train", "configs/fast.yaml", "-m", "key scan")
    rid = json.loads(_ok("runs", "--json"))["runs"][0]["id"]
    _ok("submit", rid, "-m", "scan")
    stub.score(stub.submissions[-1]["ref"], 0.8, 0.79)
    _ok("lb", "sync")
    _ok("lb")
    _ok("pick")
    _ok("report")
    _ok("export", rid, "-o", str(root / "bundle.tar.gz"))
    import tarfile

    with tarfile.open(root / "bundle.tar.gz") as t:
        bundle_bytes = b"".join(t.extractfile(m).read() for m in t.getmembers() if m.isfile())
    assert KEY.encode() not in bundle_bytes
    scanned = 0
    for p in root.rglob("*"):
        if p.is_file():
            assert KEY.encode() not in p.read_bytes(), p
            scanned += 1
    assert (root / "mlflow.db").is_file() and (root / "report.html").is_file()
    assert any(p.name == "log.txt" for p in root.rglob("log.txt"))
    assert scanned > 20
    # the client did authenticate with it (so the scan is meaningful)
    import base64

    assert f"Basic {base64.b64encode(f'{USER}:{KEY}'.encode()).decode()}" in stub.auth_headers


def test_export_refuses_a_file_holding_the_key(trained_ws, kaggle_env, tmp_path, monkeypatch):
    from medalist.kaggle.bundle import BundleError, export_runs
    from medalist.runs.store import list_runs

    run = list_runs(trained_ws)[0]
    info = json.loads((run.path / "run.json").read_text())
    info["note"] = f"oops {KEY}"
    (run.path / "run.json").write_text(json.dumps(info))
    with pytest.raises(BundleError, match="Kaggle key"):
        export_runs(trained_ws, [run.id], tmp_path / "b.tar.gz")
    assert not (tmp_path / "b.tar.gz").exists()
