"""A run killed with SIGKILL in the middle of a fold resumes to the same bytes as a run never killed."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SLOW = """\
model:
  name: lightgbm
  params: {learning_rate: 0.02, num_leaves: 31, min_child_samples: 10, verbosity: -1, deterministic: true, force_row_wise: true}
  early_stopping_rounds: null
  num_boost_round: 1000
threads: 1
seeds: [42]
"""


def medalist(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medalist.cli.app", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_kill_9_during_a_fold_then_resume_equals_an_uninterrupted_run(covid_ws):
    root = covid_ws.root
    (root / "configs" / "slow.yaml").write_text(SLOW)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "medalist.cli.app", "train", "configs/slow.yaml", "--no-track"],
                            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = None
    deadline = time.time() + 300
    try:
        while time.time() < deadline:  # kill as soon as fold 0 is on disk, i.e. during fold 1
            runs = [p for p in (root / "runs").glob("slow-*")] if (root / "runs").is_dir() else []
            if runs and (runs[0] / "parts" / "r0_f0.json").is_file():
                parts = runs[0] / "parts"
                break
            if proc.poll() is not None:
                pytest.fail("the run ended before it could be killed")
            time.sleep(0.05)
        assert parts is not None, "fold 0 never finished"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    run_dir = parts.parent
    assert proc.returncode == -signal.SIGKILL
    assert not (parts / "r0_f2.json").exists(), "killed too late: the run had finished"
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "running"  # a SIGKILL gives no chance to write 'failed'
    assert not (run_dir / "oof.parquet").exists()
    fold0 = (parts / "r0_f0.valid.npy").stat().st_mtime_ns

    res = medalist(root, "train", "configs/slow.yaml", "--resume", run_dir.name, "--no-track")
    assert res.returncode == 0, res.stderr
    assert (parts / "r0_f0.valid.npy").stat().st_mtime_ns == fold0  # the finished fold was kept, not refitted
    assert json.loads((run_dir / "run.json").read_text())["status"] == "done"
    assert not list(run_dir.rglob("*.tmp")), "temp files left behind"

    clean = medalist(root, "train", "configs/slow.yaml", "--no-track")
    assert clean.returncode == 0, clean.stderr
    other = sorted((root / "runs").glob("slow-*"))[-1]
    assert other != run_dir
    for name in ("oof.parquet", "test.parquet"):
        assert sha(run_dir / name) == sha(other / name), f"{name} differs after resume"
