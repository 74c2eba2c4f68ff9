"""Faults during a run: a full disk while saving, an exception mid-save, an unreachable tracking server.

A run either completes or is marked failed with a clear message; no partial oof/test/metrics file
and no temp file is ever left behind, and finished folds survive for --resume.
"""

from __future__ import annotations

import errno
import json
import socket
from pathlib import Path

import polars as pl
import pytest
import yaml

from medalist.cv.runner import train
from tests.conftest import run_medalist

ARTIFACTS = ("oof.parquet", "test.parquet", "metrics.json")


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    return run_medalist(monkeypatch, capsys, *args)


def only_run(ws) -> Path:
    (run,) = [p for p in ws.runs_dir.iterdir() if p.is_dir()]
    return run


def test_disk_full_while_writing_oof_leaves_no_partial_file_and_a_failed_run(covid_ws, monkeypatch, capsys):
    real = pl.DataFrame.write_parquet

    def full_disk(self, file, *a, **kw):
        if ".oof.parquet." in str(file):  # the temp file of oof.parquet: write half, then ENOSPC
            Path(file).write_bytes(b"PAR1" + b"\0" * 1000)
            raise OSError(errno.ENOSPC, "No space left on device", str(file))
        return real(self, file, *a, **kw)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full_disk)
    code, _, err = run_cli(monkeypatch, capsys, "train", "configs/fast.yaml", "threads=1", "--no-track")
    assert code == 2 and "Traceback" not in err
    assert "No space left on device" in err and "--resume" in err and "oof.parquet" in err
    run = only_run(covid_ws)
    assert not any((run / a).exists() for a in ARTIFACTS)
    assert not list(run.rglob("*.tmp")), "temp file left behind"
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "failed" and "ENOSPC" not in info["error"] and "No space left" in info["error"]
    assert len(list((run / "parts").glob("*.valid.npy"))) == 3  # the folds survived

    monkeypatch.setattr(pl.DataFrame, "write_parquet", real)  # space freed: resume finishes from the parts
    code, out, err = run_cli(monkeypatch, capsys, "train", "configs/fast.yaml", "threads=1", "--no-track", "--resume", run.name)
    assert code == 0, err
    assert all((run / a).is_file() for a in ARTIFACTS)
    assert json.loads((run / "run.json").read_text())["status"] == "done"


def test_an_exception_in_the_middle_of_saving_metrics_marks_the_run_failed(covid_ws, monkeypatch):
    import medalist.runs.writer as runner  # RunWriter writes every file of a run

    real = runner.atomic_write_json

    def broken(path, obj, **kw):
        if Path(path).name == "metrics.json":
            def half(p: Path) -> None:
                p.write_text('{"metric": "auc", "oof": 0.7')  # half a file, then a crash
                raise RuntimeError("serializer crashed")

            return runner.atomic_write(path, half)
        return real(path, obj, **kw)

    monkeypatch.setattr(runner, "atomic_write_json", broken)
    with pytest.raises(RuntimeError, match="serializer crashed"):
        train(covid_ws, Path("configs/fast.yaml"), ["threads=1"], tracking=False)
    run = only_run(covid_ws)
    assert not (run / "metrics.json").exists()
    assert not list(run.rglob("*.tmp"))
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "failed" and "serializer crashed" in info["error"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_tracking_server_run_completes_with_one_warning(covid_ws, monkeypatch, capsys):
    cfg = covid_ws.root / "medalist.yaml"
    data = yaml.safe_load(cfg.read_text())
    uri = f"http://alice:hunter2@127.0.0.1:{free_port()}"  # nothing listens there
    data["tracking"] = {"uri": uri}
    cfg.write_text(yaml.safe_dump(data))
    code, out, err = run_cli(monkeypatch, capsys, "train", "configs/fast.yaml", "threads=1")
    assert code == 0, err
    warnings = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1, err
    assert "127.0.0.1" in warnings[0] and "complete" in warnings[0]
    assert "hunter2" not in err + out  # credentials in the URI never printed
    run = only_run(covid_ws)
    assert all((run / a).is_file() for a in ARTIFACTS)
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "done" and "mlflow_run_id" not in info and "hunter2" not in json.dumps(info)
    assert "WARNING MLflow tracking" in (run / "log.txt").read_text()
