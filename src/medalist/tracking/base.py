"""The tracker interface: one :class:`Tracker` per backend, a registry by name, the never-fail mirror.

A finished run folder is complete on disk before any tracker sees it; a tracker only copies it
(params, per-fold and overall metrics, learning curves, artifacts) into MLflow, Weights & Biases or
whatever is registered. :func:`mirror_run` is the one entry point the run writer calls: whatever the
backend raises becomes a warning that names the backend, says the run is safe and gives the fix.

Adding a backend (docs/tracking.md): subclass :class:`Tracker`, implement :meth:`Tracker.log_run`
and :meth:`Tracker.where`, and ``register_tracker("name", MyTracker)``; ``tracking: {backend: name}``
in medalist.yaml then selects it.

Secrets never leave the run folder: :func:`scrub` drops secret-looking params, and
:func:`artifact_files` hands trackers copies of text artifacts with every secret value masked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from medalist.core.errors import MissingDependencyError
from medalist.core.registry import Registry

__all__ = [
    "Tracker", "TRACKERS", "register_tracker", "get_tracker", "list_trackers", "tracker_for", "mirror_run",
    "flatten", "scrub", "is_secret", "secret_values", "artifact_files", "ARTIFACT_NAMES", "ARTIFACT_GLOBS",
    "SECRET_PATTERN", "RunData", "run_data", "metric_name",
]

SECRET_PATTERN = re.compile(r"(key|token|secret|passw(or)?d|credential|auth)", re.IGNORECASE)
# Kaggle keys (32 hex), W&B API keys (40 hex, 'local-' + 40 hex on a private server), Kaggle/GitHub/OpenAI tokens
_SECRET_VALUE = re.compile(r"^[0-9a-f]{32}$|^(local-)?[0-9a-f]{40}$|^(KGAT_|ghp_|sk-)[A-Za-z0-9_]+")
# environment variables whose values are credentials a run must never carry to a tracker
_SECRET_ENV = ("KAGGLE_KEY", "KAGGLE_API_TOKEN", "WANDB_API_KEY", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")

ARTIFACT_NAMES = ("config.yaml", "metrics.json", "run.json", "git.json", "versions.json", "log.txt", "importance.parquet")
"""Files of a run folder every tracker copies (those that exist)."""
ARTIFACT_GLOBS = ("models/*/augmented_samples.png", "models/*/worst_predictions.csv", "models/*/history.csv")
"""Per-fold diagnostics some models write beside their weights, copied under ``models/<fold>/``."""
_TEXT = {".yaml", ".yml", ".json", ".txt", ".csv"}


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys.

    >>> flatten({"model": {"params": {"lr": 1}}, "seeds": [0, 1]})
    {'model.params.lr': 1, 'seeds': [0, 1]}
    """
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def is_secret(key: str, value: Any) -> bool:
    """True when a dotted key's last part or its value looks like a credential.

    >>> is_secret("kaggle.key", "x"), is_secret("wandb_api_key", 1), is_secret("model.seed", 7)
    (True, True, False)
    >>> is_secret("note", "0123456789abcdef0123456789abcdef01234567")  # a W&B API key's shape
    True
    """
    return bool(SECRET_PATTERN.search(str(key).rsplit(".", 1)[-1]) or _SECRET_VALUE.match(str(value)))


def scrub(params: dict[str, Any]) -> dict[str, Any]:
    """Drop entries whose key or value looks like a secret.

    >>> scrub({"model.params.lr": 0.1, "kaggle.key": "abc", "x": "KGAT_abc"})
    {'model.params.lr': 0.1}
    """
    return {k: v for k, v in params.items() if not is_secret(k, v)}


def secret_values(config: dict[str, Any]) -> set[str]:
    """The secret strings a run could carry: values :func:`scrub` drops from its config, and the
    credentials in this process's environment (``KAGGLE_KEY``, ``WANDB_API_KEY``, ...), at least 6
    characters long (shorter values would mask ordinary text)."""
    found = {str(v) for k, v in flatten(config).items() if v is not None and is_secret(k, v)}
    found |= {os.environ[n] for n in _SECRET_ENV if os.environ.get(n)}
    return {s for s in found if len(s) >= 6}


def _masked(text: str, secrets: set[str]) -> str:
    for s in sorted(secrets, key=len, reverse=True):
        text = text.replace(s, "***")
    return re.sub(r"\b(KGAT_|ghp_|sk-)[A-Za-z0-9_]{8,}", r"\1***", text)


@contextmanager
def artifact_files(run) -> Iterator[list[tuple[Path, str]]]:
    """``(local file, folder in the tracker)`` for every artifact of ``run``, secrets masked.

    Text artifacts (YAML, JSON, logs, CSV) are copied into a temporary folder with every secret value
    (:func:`secret_values`: a ``kaggle_key=...`` override in config.yaml and log.txt, an API key in
    the environment) replaced by ``***``; binary files are handed over as they are. The temporary
    folder lives until the ``with`` block ends, so a tracker must copy or upload inside it.
    """
    import tempfile

    secrets = secret_values(run.config if isinstance(run.config, dict) else {})
    pairs = [(run.path / n, "") for n in ARTIFACT_NAMES if (run.path / n).is_file()]
    for pattern in ARTIFACT_GLOBS:
        pairs += [(p, f"models/{p.parent.name}") for p in sorted(run.path.glob(pattern))]
    tmp = Path(tempfile.mkdtemp(prefix="medalist-track-"))
    try:
        out = []
        for i, (p, folder) in enumerate(pairs):
            if p.suffix.lower() in _TEXT:
                copy = tmp / str(i) / p.name
                copy.parent.mkdir()
                copy.write_text(_masked(p.read_text(errors="replace"), secrets))
                p = copy
            out.append((p, folder))
        yield out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def metric_name(name: str) -> str:
    """A metric name every backend accepts (no '@': map@12 -> map_at_12).

    >>> metric_name("map@12")
    'map_at_12'
    """
    return re.sub(r"[^\w\-. /]", "_", name.replace("@", "_at_"))


@dataclass
class RunData:
    """What every tracker records of a run, read once from its folder (the same for every backend)."""

    finished: bool
    """False for a pruned tune trial: no metrics.json, its finished folds are in parts/."""
    status: str
    params: dict[str, Any]
    """Flattened config, secrets scrubbed."""
    scalars: dict[str, float]
    """``cv_<metric>``, ``cv_mean``, ``cv_std`` (finished) or ``folds_done`` (pruned)."""
    folds: list[tuple[int, float, float]] = field(default_factory=list)
    """``(step, score, seconds)`` per fold; step = repeat * 1000 + fold."""
    curves: list[tuple[str, int, float]] = field(default_factory=list)
    """``(name, step, value)`` of learning curves; name = ``curve/r<repeat>_f<fold>_s<seed>/<metric>``."""
    git: dict[str, Any] = field(default_factory=dict)


def run_data(run) -> RunData:
    """Read ``run``'s folder into a :class:`RunData`."""
    rec, metrics = run.record, run.metrics
    gpath = run.path / "git.json"
    git = json.loads(gpath.read_text()) if gpath.is_file() else {}
    finished = bool(metrics)
    folds = metrics.get("folds", []) if finished else _part_scores(run.path)
    scalars = {f"cv_{metric_name(metrics['metric'])}": float(metrics["oof"]), "cv_mean": float(metrics["mean"]),
               "cv_std": float(metrics["std"])} if finished else {"folds_done": float(len(folds))}
    data = RunData(finished, str(rec.status if rec.status != "unknown" else "done" if finished else "unknown"),
                   scrub(flatten(run.config)), scalars, git=git)
    data.folds = [(int(f["repeat"]) * 1000 + int(f["fold"]), float(f["score"]), float(f["seconds"])) for f in folds]
    curves = run.path / "curves.parquet"
    if curves.is_file():
        import polars as pl

        for r in pl.read_parquet(curves).iter_rows(named=True):
            name = re.sub(r"[^\w./ -]", "_", f"curve/r{r['repeat']}_f{r['fold']}_s{r['seed']}/{r['name']}")
            data.curves.append((name, int(r["step"]), float(r["value"])))
    return data


def _part_scores(path) -> list[dict[str, Any]]:
    """Per-fold records an unfinished run left in ``parts/`` (repeat, fold, score, seconds, ...)."""
    out = []
    for p in sorted(path.glob("parts/*.json")):
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue
    return sorted(out, key=lambda f: (int(f.get("repeat", 0)), int(f.get("fold", 0))))


class Tracker:
    """One experiment-tracking backend. Subclasses set the class attributes and implement
    :meth:`log_run` and :meth:`where`; :func:`mirror_run` calls them and never lets them fail a run.
    """

    name: ClassVar[str] = ""
    """Registry name, the value of ``tracking.backend`` in medalist.yaml."""
    title: ClassVar[str] = ""
    """Name shown in messages ("MLflow", "W&B")."""
    record_key: ClassVar[str] = ""
    """run.json key that receives the tracker's run id (``mlflow_run_id``, ``wandb_run_id``)."""
    extra: ClassVar[str] = ""
    """medalist extra that installs the backend's package."""
    raise_missing: ClassVar[bool] = False
    """True: a missing package raises MissingDependencyError instead of becoming a warning."""

    def where(self, ws) -> str:
        """Where runs go, fit for a message (no credentials)."""
        raise NotImplementedError

    def preflight(self, ws) -> str | None:
        """Why logging cannot work right now (a server that refuses connections), else None."""
        return None

    def fix(self, ws) -> str:
        """What to do when mirroring failed."""
        return "check `tracking:` in medalist.yaml, or set `tracking: none`"

    def log_run(self, ws, run) -> str:
        """Copy the finished (or pruned) run folder ``run`` into the backend; return its run id there."""
        raise NotImplementedError


TRACKERS: Registry[type[Tracker]] = Registry("tracker")
TRACKERS.register_lazy("mlflow", "medalist.tracking.mlflow:MLflowTracker")
TRACKERS.register_lazy("wandb", "medalist.tracking.wandb:WandbTracker")


def register_tracker(name: str, cls: type[Tracker]) -> type[Tracker]:
    """Make ``tracking: {backend: name}`` select ``cls``."""
    return TRACKERS.register(name, cls)


def get_tracker(name: str) -> Tracker:
    """A tracker instance by registry name (ConfigError listing the names when unknown)."""
    return TRACKERS.get(name)()


def list_trackers() -> list[str]:
    """Registered backend names.

    >>> list_trackers()[:2]
    ['mlflow', 'wandb']
    """
    return TRACKERS.names()


def tracker_for(ws) -> str | None:
    """The backend name ``ws`` mirrors to: ``tracking.backend``; None for ``tracking: none``.

    A workspace-like object without a config (a recommender run's) mirrors to MLflow when it has a
    ``tracking_uri``.
    """
    backend = getattr(ws, "tracking_backend", None)
    if backend is not None or hasattr(ws, "tracking_backend"):
        return backend
    return "mlflow" if getattr(ws, "tracking_uri", None) else None


def _why(e: BaseException) -> str:
    text = str(e).splitlines()[0][:300] if str(e) else ""
    return f"{type(e).__name__}: {text}"


def mirror_run(ws, run, backend: str | None = None) -> tuple[str, str | None, str | None]:
    """Mirror ``run`` to the workspace's tracker without ever failing it.

    Returns ``(record_key, tracker_run_id, None)`` or ``(record_key, None, warning)``; the warning
    names the backend and where it logs, says the run folder is complete, and gives the fix. Only a
    tracker with ``raise_missing`` (MLflow, the default extra) lets a missing package raise.
    """
    name = backend or tracker_for(ws) or "mlflow"
    try:
        tracker = get_tracker(name)
    except Exception as e:  # an unknown backend name must not cost the run either
        return "tracker_run_id", None, (f"tracking backend '{name}' failed ({_why(e)}); run {run.id} is complete and "
                                        f"saved in {run.path}. Fix: use one of {', '.join(list_trackers())} in "
                                        "medalist.yaml `tracking: {backend: ...}`")
    why = tracker.preflight(ws)
    fix = tracker.fix(ws)
    if why is None:
        try:
            return tracker.record_key, tracker.log_run(ws, run), None
        except MissingDependencyError as e:
            if tracker.raise_missing:
                raise
            why, fix = _why(e), f"pip install 'medalist[{tracker.extra}]', or set `tracking: none`"
        except Exception as e:  # backends raise many types (HTTP, SQL, file, auth errors)
            why = _why(e)
    return tracker.record_key, None, (
        f"{tracker.title} tracking at {tracker.where(ws)} failed ({why}); run {run.id} is complete and saved in "
        f"{run.path} — only its {tracker.title} copy is missing. Fix: {fix}")
