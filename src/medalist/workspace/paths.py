"""Find or create a workspace and resolve its paths.

A workspace is a folder with a ``medalist.yaml``; the runs, folds, submissions and caches it holds
live at the paths this class names. Files are written with :mod:`medalist.core.io`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from medalist.core.config import WorkspaceConfig, load_workspace_config
from medalist.core.errors import ConfigError
from medalist.core.io import atomic_write_text
from medalist.core.safety import set_trust

__all__ = ["Workspace", "CONFIG_NAME"]

CONFIG_NAME = "medalist.yaml"


@dataclass
class Workspace:
    """A competition workspace on disk.

    >>> ws = Workspace.find()  # the workspace holding the current folder
    >>> ws.competition.name, ws.runs_dir.relative_to(ws.root), ws.folds_path.name
    ('cancer', PosixPath('runs'), 'folds.parquet')
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
        """The workspace at ``root``. Its ``trust:`` list becomes the one in effect (medalist.core.safety):
        configs used from here on may name those modules, and no others beyond the modelling libraries."""
        root = Path(root).resolve()
        ws = cls(root=root, config=load_workspace_config(root / CONFIG_NAME))
        set_trust(ws.config.trust, root=root)
        return ws

    def save_config(self) -> None:
        data = self.config.model_dump(mode="json", exclude_none=True)
        if isinstance(data.get("tracking"), dict) and data["tracking"].get("backend") == "mlflow":
            del data["tracking"]["backend"]  # the default stays implicit: `tracking: {}` as before
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
    def tracking_backend(self) -> str | None:
        """The tracker runs are mirrored to (``mlflow``, ``wandb``, ...); None for ``tracking: none``."""
        t = self.config.tracking
        return None if t == "none" else t.backend

    @property
    def tracking_uri(self) -> str | None:
        """MLflow's store (None unless the backend is MLflow): ``tracking.uri`` or SQLite in the workspace."""
        t = self.config.tracking
        if t == "none" or t.backend != "mlflow":
            return None
        return t.uri or f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def experiment_name(self) -> str:
        t = self.config.tracking
        return (t.experiment if t != "none" and t.experiment else None) or self.competition.name
