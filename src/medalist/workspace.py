"""Find or create a workspace, resolve its paths, and write files atomically.

A workspace is a folder with a ``medalist.yaml``. Every file medalist writes goes through
:func:`atomic_write` (temp file in the same folder, fsync, ``os.replace``), so a crash or a
Ctrl-C never leaves a half-written artifact behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from medalist.config import WorkspaceConfig, load_workspace_config
from medalist.errors import ConfigError

__all__ = ["Workspace", "atomic_write", "atomic_write_text", "atomic_write_json", "atomic_write_parquet", "CONFIG_NAME"]

CONFIG_NAME = "medalist.yaml"
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: Path, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success move it into place, on error remove it.

    ``durable=False`` skips the fsync: still atomic for a crashed process, not for a power cut
    (used for per-fold parts that ``--resume`` can recompute anyway).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; artifacts should read like normal files
    try:
        yield Path(tmp)
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write(path: Path, write: Callable[[Path], Any], *, durable: bool = True) -> Path:
    with atomic_path(path, durable=durable) as tmp:
        write(tmp)
    return Path(path)


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def atomic_write_json(path: Path, obj: Any, *, durable: bool = True) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n"
    return atomic_write(path, lambda p: p.write_text(text), durable=durable)


def atomic_write_parquet(path: Path, frame) -> Path:
    return atomic_write(path, lambda p: frame.write_parquet(p))


@dataclass
class Workspace:
    """A competition workspace on disk.

    >>> ws = Workspace.find()          # doctest: +SKIP
    >>> ws.runs_dir                    # doctest: +SKIP
    PosixPath('.../runs')
    """

    root: Path
    config: WorkspaceConfig

    @classmethod
    def find(cls, start: Path | None = None) -> "Workspace":
        """The workspace containing ``start`` (default: the current directory)."""
        here = Path(start or Path.cwd()).resolve()
        for d in (here, *here.parents):
            if (d / CONFIG_NAME).is_file():
                return cls.open(d)
        raise ConfigError(
            str(here),
            expected=f"a workspace (a folder with {CONFIG_NAME}) here or above",
            found="none",
            fix="cd into a workspace or create one with `medalist init DIR`",
        )

    @classmethod
    def open(cls, root: Path) -> "Workspace":
        root = Path(root).resolve()
        return cls(root=root, config=load_workspace_config(root / CONFIG_NAME))

    def save_config(self) -> None:
        data = self.config.model_dump(mode="json", exclude_none=True)
        atomic_write_text(self.root / CONFIG_NAME, yaml.safe_dump(data, sort_keys=False))

    # ------------------------------------------------------------------ paths
    def path(self, rel: str | Path) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.root / p

    @property
    def competition(self):
        return self.config.competition

    @property
    def train_path(self) -> Path:
        return self.path(self.competition.data.train)

    @property
    def test_path(self) -> Path:
        return self.path(self.competition.data.test)

    @property
    def sample_submission_path(self) -> Path:
        return self.path(self.competition.data.sample_submission)

    @property
    def folds_path(self) -> Path:
        return self.path(self.config.folds.file)

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def submissions_dir(self) -> Path:
        return self.root / "submissions"

    @property
    def configs_dir(self) -> Path:
        return self.root / "configs"

    @property
    def answers_path(self) -> Path | None:
        a = self.competition.answers
        return self.path(a) if a else None

    @property
    def tracking_uri(self) -> str | None:
        t = self.config.tracking
        if t == "none":
            return None
        return t.uri or f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def experiment_name(self) -> str:
        t = self.config.tracking
        return (t.experiment if t != "none" and t.experiment else None) or self.competition.name
