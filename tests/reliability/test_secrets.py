"""A planted Kaggle key never reaches anything medalist writes or prints.

The key is planted where the kaggle client looks for credentials (environment variables and
~/.kaggle/kaggle.json); the whole loop runs through the CLI with MLflow tracking on; then every file
of the workspace (run folders, MLflow's SQLite database and artifacts, submissions, logs) and all
output are searched for it, as text and as bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

KEY = "0123456789abcdef0123456789abcdef"  # the shape of a legacy Kaggle API key
TOKEN = "KGAT_planted_secret_token_1234567890"


def scan(root: Path, *needles: str) -> list[str]:
    hits = []
    for p in root.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            hits += [f"{p.relative_to(root)}: {n[:6]}…" for n in needles if n.encode() in data]
    return hits


def test_planted_kaggle_credentials_never_reach_artifacts_logs_or_mlflow(covid_ws, tmp_path):
    pytest.importorskip("mlflow")
    home = tmp_path / "home"
    (home / ".kaggle").mkdir(parents=True)
    (home / ".kaggle" / "kaggle.json").write_text(json.dumps({"username": "planted_user", "key": KEY}))
    env = {**os.environ, "HOME": str(home), "KAGGLE_USERNAME": "planted_user", "KAGGLE_KEY": KEY,
           "KAGGLE_API_TOKEN": TOKEN, "KAGGLE_CONFIG_DIR": str(home / ".kaggle")}
    root = covid_ws.root
    data = yaml.safe_load((root / "medalist.yaml").read_text())
    data.pop("tracking", None)  # MLflow on (SQLite in the workspace)
    (root / "medalist.yaml").write_text(yaml.safe_dump(data))

    out = []
    for args in (["train", "configs/fast.yaml", "threads=1", "-m", "planted run"],
                 ["runs", "--json"], ["show", "fast-001", "--json"],
                 ["submit", "fast-001", "-m", "local check", "--local"],
                 ["advval", "--json"]):
        p = subprocess.run([sys.executable, "-m", "medalist.cli.app", *args], cwd=root, env=env, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, (args, p.stderr)
        out.append(p.stdout + p.stderr)
    assert (root / "mlflow.db").is_file()
    assert not scan(root, KEY, TOKEN), scan(root, KEY, TOKEN)
    assert not any(KEY in o or TOKEN in o for o in out)
