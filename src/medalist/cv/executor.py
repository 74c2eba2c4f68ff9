"""Folds as Ray tasks: :class:`RayExecutor` runs :func:`~medalist.cv.runner.loop.fit_split` on a Ray cluster.

The shared inputs (the competition's frames, the config, the feature plan) go to the object store
once per run (``ray.put``; Polars frames travel as Arrow IPC buffers), each task gets a reference.
A task fits its fold's seeds into a private temporary folder and returns the files it wrote (models,
target transforms) with its predictions; the driver alone writes them into the run folder through
the run writer, so a Ray run's folder is the same as a local one. A task lost with its worker is
retried by Ray (``max_retries``); an error in user code fails the run with the fold named, and the
folds still running are cancelled.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medalist.core.config import ExecutorConfig
from medalist.core.errors import RunError
from medalist.core.executors import connect_ray
from medalist.cv.runner.loop import LocalExecutor, SplitJob, SplitResult, fit_split
from medalist.runs.writer import RunWriter

__all__ = ["RayExecutor", "make_executor"]

MAX_RETRIES = 3  # a task whose worker or node dies is run again, up to this many times


def _remote_split(job: SplitJob, split: Any, run_name: str | None, trust: Any) -> SplitResult:
    """The Ray task: fit one split in a temporary run folder and return its files with the predictions."""
    from medalist.core.safety import set_trust

    if trust is not None:
        set_trust(trust.modules, root=trust.root)
    if run_name is None:
        return fit_split(job, split, None)
    with tempfile.TemporaryDirectory(prefix="medalist-ray-") as tmp:
        rd = Path(tmp) / run_name
        rd.mkdir()
        r = fit_split(job, split, rd)
        r.files = {str(p.relative_to(rd)): p.read_bytes() for p in sorted(rd.rglob("*")) if p.is_file()}
    return r


class RayExecutor:
    """Runs each fold (all its seeds) as one Ray task reserving ``cpus_per_task``/``gpus_per_task``."""

    name = "ray"

    def __init__(self, cfg: ExecutorConfig) -> None:
        self.cfg = cfg
        self.ray = connect_ray(cfg)
        self.submitted: list[tuple[int, str]] = []  # (split index, Ray task id) of every task this executor started

    def run_splits(self, job: SplitJob, todo: list[tuple[int, Any]], run_dir: Path | None) -> Iterator[tuple[int, SplitResult]]:
        """Submit every split at once; yield ``(index, SplitResult)`` as each finishes, its files written."""
        if not todo:
            return
        from medalist.core import safety

        ray = self.ray
        task = ray.remote(num_cpus=self.cfg.cpus_per_task, num_gpus=self.cfg.gpus_per_task,
                          max_retries=MAX_RETRIES, retry_exceptions=False)(_remote_split)
        job_ref = ray.put(job)  # once per run, not once per fold
        name = run_dir.name if run_dir is not None else None
        trust = safety._trust  # the workspace's trust: list travels with the task
        pending = {}
        for i, split in todo:
            ref = task.remote(job_ref, split, name, trust)
            pending[ref] = (i, split)
            self.submitted.append((i, ref.task_id().hex()))
        writer = RunWriter(run_dir) if run_dir is not None else None
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    i, split = pending.pop(ref)
                    r = self._get(ref, split)
                    if writer is not None:
                        for rel, blob in r.files.items():
                            writer.blob(rel, blob)
                    r.files = {}
                    yield i, r
        finally:  # an error or a pruned trial: stop the folds still running
            for ref in pending:
                ray.cancel(ref, force=False)

    def _get(self, ref: Any, split: Any) -> SplitResult:
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as e:  # an error in user code: raise it as a local fit would
            cause = getattr(e, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from None
            raise RunError(f"repeat {split.repeat} fold {split.fold}", expected="the fold's fit to finish",
                           found=str(e).splitlines()[0]) from None
        except ray.exceptions.RayError as e:  # worker/node lost beyond the retries
            raise RunError(f"repeat {split.repeat} fold {split.fold}", expected="the Ray task to finish",
                           found=f"{type(e).__name__}: {str(e).splitlines()[0]}",
                           fix="check the cluster (ray status), then --resume the run (finished folds are kept)") from None


def make_executor(cfg: ExecutorConfig | None) -> LocalExecutor | RayExecutor:
    """The executor ``cfg`` names (local when None)."""
    if cfg is None or cfg.name == "local":
        return LocalExecutor()
    return RayExecutor(cfg)


def executor_for(config: ExecutorConfig | None, executor: str | Any = None) -> LocalExecutor | RayExecutor:
    """An executor object as given, else the one ``executor`` (``--executor``'s value) or medalist.yaml's
    ``executor:`` (``config``) names, connected (or refused) before any run folder exists."""
    if executor is not None and not isinstance(executor, str):
        return executor
    from medalist.core.executors import resolve_executor

    return make_executor(resolve_executor(config, executor))
