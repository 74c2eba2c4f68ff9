"""A workspace written by medalist 0.1.0 (tests/data/runs_0_1_0, made by its make_fixture.py)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

OLD = Path(__file__).resolve().parents[1] / "data" / "runs_0_1_0"


@pytest.fixture
def old_ws(tmp_path, monkeypatch):
    """A copy of the 0.1.0 workspace (runs fast-001, lin-001, blend-hill-climb-001); the test runs inside it."""
    from medalist.workspace.paths import Workspace

    root = tmp_path / "old"
    shutil.copytree(OLD, root)
    monkeypatch.chdir(root)
    return Workspace.open(root)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
