""":class:`RunWriter`: the one writer of run folders.

Every producer (the CV runner, blends and stacks, tune's trials, recommender runs, compare's seed
replicas) reserves its folder, writes its files and sets its status here, so the rules hold for all
of them:

* every file is written atomically (a crash leaves the old file or none, never half of one);
* ``run.json`` is written first with status ``running`` and last with status ``done``: a run.json
  with status done means the folder is complete;
* a failure is recorded (``failed``/``interrupted``/``stopped`` and the error) before it propagates;
* mirroring to the tracker never fails a run: a tracker that is down becomes a warning and a
  ``tracking_error`` in the record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from medalist.core.io import (
    atomic_write,
    atomic_write_json,
    atomic_write_parquet,
    atomic_write_text,
)
from medalist.core.deadline import StopRun
from medalist.runs.record import SCHEMA_VERSION, RunRecord
from medalist.runs.store import Run, new_run_id

__all__ = ["RunWriter", "StopRun", "now_iso"]

log = logging.getLogger("medalist.runs")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunWriter:
    """Writes one run folder: ``RunWriter.create(runs_dir, stem, model=...)`` reserves a new id,
    ``RunWriter.resume(run)`` reopens a folder (``--resume``), ``RunWriter(path)`` writes files into
    a folder whose run.json someone else owns (the CV loop's ``parts/``).

    >>> import tempfile
    >>> runs_dir = Path(tempfile.mkdtemp())
    >>> w = RunWriter.create(runs_dir, "my-model", model="lightgbm")
    >>> with w.recording():
    ...     w.start(note="a hand-written producer")
    ...     _ = w.parquet("oof.parquet", pl.DataFrame({"id": [1, 2], "fold": [0, 1], "pred": [0.2, 0.9]}))
    ...     run = w.finish(seconds=1.5)
    >>> run.id, run.record.status, run.record.model, run.record.seconds
    ('my-model-001', 'done', 'lightgbm', 1.5)
    >>> sorted(p.name for p in run.path.iterdir())
    ['oof.parquet', 'run.json']
    """

    def __init__(self, path: Path, record: RunRecord | None = None) -> None:
        self.path = Path(path)
        self.record = record if record is not None else RunRecord(id=self.path.name)
        self._t0 = time.perf_counter()

    # ------------------------------------------------------------- opening
    @classmethod
    def create(cls, runs_dir: Path, stem: str, **fields: Any) -> "RunWriter":
        """Reserve ``<stem>-<NNN>`` (atomic: safe with concurrent producers); nothing written yet."""
        rid = new_run_id(Path(runs_dir), stem)
        rec = RunRecord(schema_version=SCHEMA_VERSION, id=rid, status="running", created=now_iso(), **fields)
        return cls(Path(runs_dir) / rid, rec)

    @classmethod
    def resume(cls, run: Run, **fields: Any) -> "RunWriter":
        """Reopen ``run``'s folder: its ``created`` time is kept, ``fields`` replace the rest."""
        old = run.record
        rec = RunRecord(schema_version=SCHEMA_VERSION, id=run.id, status="running",
                        created=old.created or now_iso(), **fields)
        return cls(run.path, rec)

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def run(self) -> Run:
        return Run(self.id, self.path)

    # ------------------------------------------------------------- files
    def file(self, name: str | Path) -> Path:
        return self.path / name

    def json(self, name: str | Path, obj: Any, *, durable: bool = True) -> Path:
        return atomic_write_json(self.path / name, obj, durable=durable)

    def yaml(self, name: str | Path, obj: Any) -> Path:
        import yaml

        return atomic_write_text(self.path / name, yaml.safe_dump(obj, sort_keys=False))

    def text(self, name: str | Path, text: str) -> Path:
        return atomic_write_text(self.path / name, text)

    def parquet(self, name: str | Path, frame) -> Path:
        return atomic_write_parquet(self.path / name, frame)

    def npy(self, name: str | Path, arr, *, durable: bool = False) -> Path:
        import numpy as np

        def w(p: Path) -> None:
            with open(p, "wb") as fh:
                np.save(fh, arr)

        return atomic_write(self.path / name, w, durable=durable)

    def blob(self, name: str | Path, data: bytes) -> Path:
        """A file's bytes as they are (a model a remote task saved and returned to the driver)."""
        return atomic_write(self.path / name, lambda p: p.write_bytes(data), durable=False)

    def provenance(self, root: Path | None) -> None:
        """git.json (commit, dirty) of the project at ``root``, when there is one."""
        from medalist.core.provenance import git_info

        if root is not None:
            self.json("git.json", git_info(root))

    def versions(self) -> None:
        """versions.json; call after the fit, when the libraries it names are loaded."""
        from medalist.core.provenance import package_versions

        self.json("versions.json", package_versions())

    # ------------------------------------------------------------- status
    def update(self, **fields: Any) -> None:
        for k, v in fields.items():
            setattr(self.record, k, v)

    def save(self) -> Path:
        return self.record.save(self.path / "run.json")

    def start(self, **fields: Any) -> None:
        """Write run.json with status ``running`` (a folder with it and no ``done`` is unfinished)."""
        self.update(status="running", **fields)
        self.save()

    def finish(self, status: str = "done", *, seconds: float | None = None, **fields: Any) -> Run:
        """Last write of a run: status, end time and duration, then run.json."""
        secs = round(time.perf_counter() - self._t0, 2) if seconds is None else seconds
        self.update(status=status, finished=now_iso(), seconds=secs, **fields)
        self.save()
        return self.run

    def fail(self, exc: BaseException, status: str | None = None) -> None:
        """Record why the run stopped; never raises (the disk that failed the run may refuse this too)."""
        status = status or ("interrupted" if isinstance(exc, KeyboardInterrupt)
                            else "stopped" if isinstance(exc, StopRun) else "failed")
        try:
            self.update(status=status, error=f"{type(exc).__name__}: {exc}")
            self.save()
        except Exception:  # noqa: BLE001 - the original error is the one to report
            log.debug("could not record the failure of run %s", self.id, exc_info=True)

    @contextmanager
    def recording(self) -> Iterator["RunWriter"]:
        """``with writer.recording():`` marks the run failed/interrupted when the body raises."""
        try:
            yield self
        except BaseException as e:
            self.fail(e)
            raise

    @contextmanager
    def log_file(self) -> Iterator[None]:
        """Copy the ``medalist`` logger into the run's log.txt while the run is written."""
        handler = logging.FileHandler(self.path / "log.txt")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        thread = threading.get_ident()  # tune --parallel: runs in other threads keep their own log.txt
        handler.addFilter(lambda record: record.thread == thread)
        logger = logging.getLogger("medalist")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            handler.close()

    # ------------------------------------------------------------- tracking
    def mirror(self, ws) -> str | None:
        """Mirror the run to the workspace's tracker, never failing; return the warning, if any.

        The record gets the tracker's run id (``mlflow_run_id``, ``wandb_run_id``) or
        ``tracking_error`` and run.json is rewritten; a failure is also logged and appended to
        log.txt. With ``tracking: none`` (or no tracking URI on a bare workspace) nothing happens.
        """
        from medalist.tracking import mirror_run, tracker_for

        if tracker_for(ws) is None:
            return None
        key, tracker_id, warning = mirror_run(ws, self.run)
        if warning:
            log.warning(warning)
            with open(self.path / "log.txt", "a") as fh:
                fh.write(f"{now_iso()} WARNING {warning}\n")
            self.record.tracking_error = warning
        else:
            setattr(self.record, key, tracker_id)
        self.save()
        return warning
