"""What a run needs to be reproduced: git commit and dirty diff, package versions, hashes."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["git_info", "package_versions", "stable_hash"]

_PACKAGES = (
    "medalist", "numpy", "polars", "pandas", "pyarrow", "scikit-learn", "scipy", "lightgbm", "xgboost",
    "catboost", "mlflow", "optuna", "torch", "timm", "lightning",
)
_MODULE = {"scikit-learn": "sklearn"}
_MAX_DIFF = 2_000_000  # bytes; a giant diff is usually data committed by mistake


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def git_info(path: Path) -> dict[str, Any]:
    """Commit, branch and uncommitted diff of the git repository holding ``path`` (if any)."""
    commit = _git(["rev-parse", "HEAD"], path)
    if commit is None:
        return {"commit": None, "dirty": None, "diff": None}
    diff = _git(["diff", "HEAD"], path) or ""
    status = _git(["status", "--porcelain"], path) or ""
    return {
        "commit": commit.strip(),
        "branch": (_git(["rev-parse", "--abbrev-ref", "HEAD"], path) or "").strip(),
        "dirty": bool(status.strip()),
        "untracked": [l[3:] for l in status.splitlines() if l.startswith("??")][:200],
        "diff": diff[:_MAX_DIFF],
    }


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version(), "platform": platform.platform()}
    # Only libraries this process actually loaded: they are what produced the run, and looking up
    # metadata of every candidate costs more than the bookkeeping it serves.
    for p in _PACKAGES:
        module = _MODULE.get(p, p)
        if p != "medalist" and module not in sys.modules:
            continue
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    out["executable"] = sys.executable
    return out


def stable_hash(obj: Any) -> str:
    """Short sha256 of a JSON-able object with sorted keys."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
