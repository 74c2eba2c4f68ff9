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
from typing import Any

from medalist.core.errors import MissingDependencyError
from medalist.core.optional import require

log = logging.getLogger(__name__)

__all__ = ["log_run", "mirror_run", "store_lock", "scrub", "flatten", "redact_uri", "SECRET_PATTERN"]

SECRET_PATTERN = re.compile(r"(key|token|secret|passw(or)?d|credential|auth)", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"^[0-9a-f]{32}$|^(KGAT_|ghp_|sk-)[A-Za-z0-9_]+")


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"params": {"lr": 1}}}`` -> ``{"model.params.lr": 1}``."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def scrub(params: dict[str, Any]) -> dict[str, Any]:
    """Drop entries whose key or value looks like a secret."""
    return {
        k: v for k, v in params.items()
        if not SECRET_PATTERN.search(k.rsplit(".", 1)[-1]) and not _SECRET_VALUE.match(str(v))
    }


def _mlflow():
    require("mlflow", extra="tracking", purpose="experiment tracking")
    # MLflow's alembic/sqlalchemy chatter drowns the run output.
    for name in ("alembic", "mlflow"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    return mlflow


def _mlflow_name(name: str) -> str:
    """A metric name MLflow accepts (no '@': map@12 -> map_at_12).

    >>> _mlflow_name("map@12")
    'map_at_12'
    """
    return re.sub(r"[^\w\-. /]", "_", name.replace("@", "_at_"))


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


def mirror_run(ws, run) -> tuple[str | None, str | None]:
    """Log ``run`` to MLflow without ever failing the run: ``(mlflow_run_id, None)`` or ``(None, warning)``.

    :meth:`medalist.runs.writer.RunWriter.mirror` records the outcome in the run's run.json.

    A tracking server that is down must not cost a finished run: its files are complete in the run
    folder, and the warning says so (once, with the URI's credentials removed).
    """
    uri = ws.tracking_uri
    why = _reachable(uri)
    if why is None:
        try:
            return log_run(ws, run), None
        except MissingDependencyError:
            raise
        except Exception as e:  # MLflow raises many types (HTTP, SQL, file errors)
            why = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
    return None, (f"MLflow tracking at {redact_uri(uri)} failed ({why}); run {run.id} is complete and saved in "
                  f"{run.path} — only its MLflow copy is missing")


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
    rec, metrics = run.record, run.metrics
    git = {}
    gpath = run.path / "git.json"
    if gpath.is_file():
        import json

        git = json.loads(gpath.read_text())
    finished = bool(metrics)  # a pruned tune trial has no metrics.json: its finished folds are in parts/
    folds = metrics.get("folds", []) if finished else _part_scores(run.path)
    tags = {
        "medalist.status": str(rec.status if rec.status != "unknown" else "done" if finished else "unknown"),
        "mlflow.runName": run.id, "medalist.run_id": run.id, "medalist.model": str(rec.model),
        "medalist.folds_hash": str(rec.folds_hash), "medalist.config_hash": str(rec.config_hash),
        "mlflow.note.content": rec.note or "",
    }
    if git.get("commit"):
        tags.update({"mlflow.source.git.commit": git["commit"], "git.dirty": str(git.get("dirty"))})
    mrun = client.create_run(exp_id, run_name=run.id, tags=tags)
    rid = mrun.info.run_id
    params = scrub(flatten(run.config))
    ts = int(__import__("time").time() * 1000)
    plist = [Param(k[:250], str(v)[:6000]) for k, v in sorted(params.items())]
    mlist = [
        Metric(f"cv_{_mlflow_name(metrics['metric'])}", float(metrics["oof"]), ts, 0),
        Metric("cv_mean", float(metrics["mean"]), ts, 0),
        Metric("cv_std", float(metrics["std"]), ts, 0),
    ] if finished else [Metric("folds_done", float(len(folds)), ts, 0)]
    for f in folds:
        step = int(f["repeat"]) * 1000 + int(f["fold"])
        mlist.append(Metric("fold_score", float(f["score"]), ts, step))
        mlist.append(Metric("fold_seconds", float(f["seconds"]), ts, step))
    curves = run.path / "curves.parquet"
    if curves.is_file():
        import polars as pl

        cdf = pl.read_parquet(curves)
        for r in cdf.iter_rows(named=True):
            name = re.sub(r"[^\w./ -]", "_", f"curve/r{r['repeat']}_f{r['fold']}_s{r['seed']}/{r['name']}")
            mlist.append(Metric(name, float(r["value"]), ts, int(r["step"])))
    for i in range(0, len(plist), 100):
        client.log_batch(rid, params=plist[i : i + 100])
    for i in range(0, len(mlist), 1000):
        client.log_batch(rid, metrics=mlist[i : i + 1000])
    for name in ("config.yaml", "metrics.json", "run.json", "git.json", "versions.json", "log.txt", "importance.parquet"):
        p = run.path / name
        if p.is_file():
            client.log_artifact(rid, str(p))
    # per-fold diagnostics some models write beside their weights (image models: a grid of augmented
    # inputs, the worst-predicted samples, per-epoch history)
    for pattern in ("models/*/augmented_samples.png", "models/*/worst_predictions.csv", "models/*/history.csv"):
        for p in sorted(run.path.glob(pattern)):
            client.log_artifact(rid, str(p), artifact_path=f"models/{p.parent.name}")
    client.set_terminated(rid, "FINISHED" if finished else "KILLED")
    return rid


def _part_scores(path) -> list[dict[str, Any]]:
    """Per-fold records an unfinished run left in ``parts/`` (repeat, fold, score, seconds, ...)."""
    import json

    out = []
    for p in sorted(path.glob("parts/*.json")):
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue
    return sorted(out, key=lambda f: (int(f.get("repeat", 0)), int(f.get("fold", 0))))
