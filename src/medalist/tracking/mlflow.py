"""MLflow tracking: params, per-fold and overall metrics, learning curves, artifacts, git tags.

The default store is SQLite inside the workspace (``mlflow.db``); ``tracking.uri`` in
medalist.yaml points at a team server; ``tracking: none`` turns it off. Keys and values that look
like secrets (Kaggle keys, tokens, passwords) are removed before anything reaches MLflow.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re

from medalist.core.optional import require
from medalist.tracking.base import (
    SECRET_PATTERN,
    Tracker,
    artifact_files,
    flatten,
    metric_name,
    run_data,
    scrub,
)
from medalist.tracking.base import mirror_run as _mirror

log = logging.getLogger(__name__)

__all__ = ["MLflowTracker", "log_run", "mirror_run", "store_lock", "scrub", "flatten", "redact_uri", "SECRET_PATTERN"]

def _mlflow():
    require("mlflow", extra="tracking", purpose="experiment tracking")
    # MLflow's alembic/sqlalchemy chatter drowns the run output.
    for name in ("alembic", "mlflow"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    return mlflow


_mlflow_name = metric_name


def redact_uri(uri: str) -> str:
    """A tracking URI fit for a message: any ``user:password@`` part removed.

    >>> redact_uri("http://me:s3cret@mlflow.team:5000")
    'http://***@mlflow.team:5000'
    """
    return re.sub(r"//[^/@]+@", "//***@", uri)


def _reachable(uri: str, timeout: float = 3.0) -> str | None:
    """None when an http(s) tracking server accepts a connection, else why not (local stores: None)."""
    import socket
    from urllib.parse import urlparse

    u = urlparse(uri)
    if u.scheme not in ("http", "https"):
        return None
    try:
        with socket.create_connection((u.hostname or "localhost", u.port or (443 if u.scheme == "https" else 80)), timeout=timeout):
            return None
    except OSError as e:
        return f"{type(e).__name__}: {e.strerror or e}"


class MLflowTracker(Tracker):
    """MLflow: the default backend (``tracking: {uri: ..., experiment: ...}``; SQLite in the workspace)."""

    name, title, record_key, extra, raise_missing = "mlflow", "MLflow", "mlflow_run_id", "tracking", True

    def where(self, ws) -> str:
        return redact_uri(ws.tracking_uri or "")

    def preflight(self, ws) -> str | None:
        return _reachable(ws.tracking_uri or "")

    def fix(self, ws) -> str:
        return "start the MLflow server or correct `tracking.uri` in medalist.yaml (or set `tracking: none`)"

    def log_run(self, ws, run) -> str:
        return log_run(ws, run)


def mirror_run(ws, run) -> tuple[str | None, str | None]:
    """Log ``run`` to MLflow without ever failing the run: ``(mlflow_run_id, None)`` or ``(None, warning)``.

    :meth:`medalist.runs.writer.RunWriter.mirror` records the outcome in the run's run.json.

    A tracking server that is down must not cost a finished run: its files are complete in the run
    folder, and the warning says so (once, with the URI's credentials removed).
    """
    _, rid, warning = _mirror(ws, run, backend="mlflow")
    return rid, warning


def _experiment_id(client, name: str, artifact_root: str | None) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_root)
    except Exception:  # another process created it first
        return client.get_experiment_by_name(name).experiment_id


@contextlib.contextmanager
def store_lock(ws, uri: str | None):
    """Serialize writers of a workspace's SQLite MLflow store across processes.

    Two processes creating ``mlflow.db`` at once race in MLflow's schema migration (seen: "Online
    migration expected to match one row"); an exclusive ``flock`` on ``.medalist/tracking.lock``
    makes concurrent runs wait for each other for the second or so logging takes. Server URIs need
    no lock.
    """
    if not uri or not uri.startswith("sqlite:"):
        yield
        return
    import fcntl

    lock = ws.root / ".medalist" / "tracking.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def log_run(ws, run) -> str:
    """Mirror a finished run folder into MLflow; return the MLflow run id."""
    with store_lock(ws, ws.tracking_uri):
        return _log_run(ws, run)


def _log_run(ws, run) -> str:
    _mlflow()
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    uri = ws.tracking_uri
    client = MlflowClient(tracking_uri=uri)
    artifact_root = (ws.root / "mlartifacts").as_uri() if uri.startswith("sqlite:") else None
    exp_id = _experiment_id(client, ws.experiment_name, artifact_root)
    rec, data = run.record, run_data(run)
    tags = {
        "medalist.status": data.status,
        "mlflow.runName": run.id, "medalist.run_id": run.id, "medalist.model": str(rec.model),
        "medalist.folds_hash": str(rec.folds_hash), "medalist.config_hash": str(rec.config_hash),
        "mlflow.note.content": rec.note or "",
    }
    if data.git.get("commit"):
        tags.update({"mlflow.source.git.commit": data.git["commit"], "git.dirty": str(data.git.get("dirty"))})
    mrun = client.create_run(exp_id, run_name=run.id, tags=tags)
    rid = mrun.info.run_id
    ts = int(__import__("time").time() * 1000)
    plist = [Param(k[:250], str(v)[:6000]) for k, v in sorted(data.params.items())]
    mlist = [Metric(k, v, ts, 0) for k, v in data.scalars.items()]
    for step, score, seconds in data.folds:
        mlist.append(Metric("fold_score", score, ts, step))
        mlist.append(Metric("fold_seconds", seconds, ts, step))
    mlist += [Metric(name, value, ts, step) for name, step, value in data.curves]
    for i in range(0, len(plist), 100):
        client.log_batch(rid, params=plist[i : i + 100])
    for i in range(0, len(mlist), 1000):
        client.log_batch(rid, metrics=mlist[i : i + 1000])
    with artifact_files(run) as files:  # text copies with secrets masked
        for p, folder in files:
            client.log_artifact(rid, str(p), artifact_path=folder or None)
    client.set_terminated(rid, "FINISHED" if data.finished else "KILLED")
    return rid
