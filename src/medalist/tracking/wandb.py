"""Weights & Biases tracking: the same params, metrics and artifacts as MLflow's, in a W&B run.

``tracking: {backend: wandb, project: my-comp, mode: offline}`` in medalist.yaml selects it
(``pip install 'medalist[wandb]'``). Each medalist run becomes one W&B run named after it:

* config: the run's flattened config, secrets scrubbed (MLflow's params);
* summary: ``cv_<metric>``, ``cv_mean``, ``cv_std`` (``folds_done`` for a pruned trial), and the last
  value of every series, as MLflow's latest metrics;
* history: ``fold_score``/``fold_seconds`` against ``fold_step`` (repeat * 1000 + fold) and each
  learning curve ``curve/r<repeat>_f<fold>_s<seed>/<metric>`` against its own ``.../step`` key
  (hidden from the summary);
* an artifact ``<run id>`` of type ``medalist-run`` holding MLflow's artifact files at the same
  paths, text files with secrets masked;
* tags ``model:…``, ``status:…``, ``folds:…``, ``git:…``; the run's note as W&B notes.

W&B's own collection of the command line, host metadata, console output, git state, code and
installed packages is switched off: a ``kaggle_key=...`` override on the command line never leaves
the machine. ``mode: offline`` (or ``WANDB_MODE=offline``) writes the run under
``<dir>/wandb/offline-run-*``; ``wandb sync`` uploads it later, and :func:`read_offline_run` reads it back.
"""

from __future__ import annotations

import os
import struct
from collections import defaultdict
from pathlib import Path
from typing import Any

from medalist.core.optional import require
from medalist.tracking.base import Tracker, artifact_files, run_data

__all__ = ["WandbTracker", "offline_runs", "read_offline_run"]


def _wandb():
    return require("wandb", extra="wandb", purpose="Weights & Biases tracking")


def _settings(ws) -> dict[str, Any]:
    t = getattr(getattr(ws, "config", None), "tracking", None)
    t = None if t == "none" else t
    mode = (t.mode if t is not None and t.mode else None) or os.environ.get("WANDB_MODE") or "online"
    wdir = os.environ.get("WANDB_DIR") or str(ws.root)
    if t is not None and t.dir:
        wdir = str(ws.root / t.dir) if not Path(t.dir).is_absolute() else t.dir
    project = (t.project if t is not None else None) or getattr(ws, "experiment_name", None) or "medalist"
    return {"mode": "offline" if mode in ("offline", "dryrun") else mode, "dir": wdir, "project": project,
            "entity": t.entity if t is not None else None}


class WandbTracker(Tracker):
    """Weights & Biases (``tracking: {backend: wandb, project: ..., entity: ..., mode: offline|online}``)."""

    name, title, record_key, extra, raise_missing = "wandb", "W&B", "wandb_run_id", "wandb", False

    def where(self, ws) -> str:
        s = _settings(ws)
        return f"{s['entity'] + '/' if s['entity'] else ''}{s['project']} ({s['mode']}, {s['dir']})"

    def preflight(self, ws) -> str | None:
        s = _settings(ws)
        if s["mode"] == "online" and not _logged_in():
            return "not logged in to W&B: no WANDB_API_KEY and no W&B entry in ~/.netrc"
        return None

    def fix(self, ws) -> str:
        return ("run `wandb login` (or set WANDB_API_KEY), or log offline with `mode: offline` under "
                "`tracking:` in medalist.yaml and upload later with `wandb sync`")

    def log_run(self, ws, run) -> str:
        return _log_run(ws, run)


def _logged_in() -> bool:
    """An API key is available without prompting (an interactive login prompt must never block a run)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    import netrc

    try:
        rc = netrc.netrc(os.environ.get("NETRC") or None)
    except (OSError, netrc.NetrcParseError):
        return False
    from urllib.parse import urlparse

    custom = urlparse(os.environ.get("WANDB_BASE_URL", "")).hostname
    return any("wandb" in host or host == custom for host in rc.hosts)


def _log_run(ws, run) -> str:
    wandb = _wandb()
    s = _settings(ws)
    Path(s["dir"]).mkdir(parents=True, exist_ok=True)
    data, rec = run_data(run), run.record
    tags = [f"model:{rec.model}", f"status:{data.status}", f"folds:{rec.folds_hash}"]
    if data.git.get("commit"):
        tags.append(f"git:{str(data.git['commit'])[:12]}{'+dirty' if data.git.get('dirty') else ''}")
    quiet = dict(silent=True, console="off", x_disable_stats=True, x_disable_meta=True, x_disable_machine_info=True,
                 disable_git=True, disable_code=True, save_code=False, x_save_requirements=False,
                 disable_job_creation=True, init_timeout=60)
    known = getattr(wandb.Settings, "model_fields", quiet)  # older releases lack some of these switches
    settings = wandb.Settings(**{k: v for k, v in quiet.items() if k in known})
    wrun = wandb.init(project=s["project"], entity=s["entity"], name=run.id, notes=rec.note or None,
                      tags=[t[:64] for t in tags], config=data.params, dir=s["dir"], mode=s["mode"], job_type="cv",
                      reinit="create_new", settings=settings)
    try:
        _log_metrics(wrun, data)
        art = wandb.Artifact(_artifact_name(run.id), type="medalist-run", metadata={"medalist_run": run.id})
        with artifact_files(run) as files:
            for p, folder in files:
                art.add_file(str(p), name=f"{folder}/{p.name}" if folder else p.name)
            wrun.log_artifact(art)
            wid = wrun.id
            wrun.finish(exit_code=0 if data.finished else 1)
    except BaseException:
        wrun.finish(exit_code=1)
        raise
    return wid


def _artifact_name(run_id: str) -> str:
    import re

    return re.sub(r"[^\w.-]", "_", run_id)


def _log_metrics(wrun, data) -> None:
    """Scalars into the summary; fold and curve series as history, each against its own step key."""
    wrun.define_metric("fold_step", hidden=True, summary="none")
    for name in ("fold_score", "fold_seconds"):
        wrun.define_metric(name, step_metric="fold_step")
    for step, score, seconds in data.folds:
        wrun.log({"fold_step": step, "fold_score": score, "fold_seconds": seconds})
    by_step: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    for name, step, value in data.curves:
        by_step[("/".join(name.split("/", 2)[:2]), step)][name] = value
    defined: set[str] = set()
    for (prefix, step), values in sorted(by_step.items()):
        key = f"{prefix}/step"
        if key not in defined:
            wrun.define_metric(key, hidden=True, summary="none")
            defined.add(key)
        for name in values:
            if name not in defined:
                wrun.define_metric(name, step_metric=key)
                defined.add(name)
        wrun.log({key: step, **values})
    for k, v in data.scalars.items():
        wrun.summary[k] = v


# ---------------------------------------------------------------- reading an offline run back
def offline_runs(wandb_dir: Path) -> list[Path]:
    """The offline run folders under ``wandb_dir`` (its ``wandb/offline-run-*``, oldest first)."""
    root = Path(wandb_dir)
    root = root / "wandb" if (root / "wandb").is_dir() else root
    return sorted(root.glob("offline-run-*"))


def _records(path: Path):
    """The protobuf records of a ``.wandb`` file (W&B's LevelDB-style log: 32 KiB blocks, 7-byte headers)."""
    from wandb.proto import wandb_internal_pb2 as pb

    raw = path.read_bytes()
    if raw[:4] != b":W&B":
        raise ValueError(f"{path}: not a W&B run file")
    pos, buf, block = 7, b"", 32768
    while pos + 7 <= len(raw):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", raw[pos:pos + 7])
        pos += 7
        if kind == 0 and length == 0:
            break
        buf += raw[pos:pos + length]
        pos += length
        if kind in (1, 4):  # FULL or LAST
            rec = pb.Record()
            rec.ParseFromString(buf)
            yield rec
            buf = b""


def read_offline_run(run_dir: Path) -> dict[str, Any]:
    """What W&B wrote for one offline run: ``{"name", "tags", "notes", "config", "summary", "history",
    "artifacts"}`` (config and summary as dicts; history as the logged rows; artifacts as the paths in
    each logged artifact's manifest), read from its ``run-*.wandb`` file without the network."""
    import json

    run_dir = Path(run_dir)
    out: dict[str, Any] = {"name": None, "tags": [], "notes": "", "config": {}, "summary": {}, "history": [],
                           "artifacts": {}}
    for rec in _records(next(run_dir.glob("run-*.wandb"))):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            out.update(name=rec.run.display_name, tags=list(rec.run.tags), notes=rec.run.notes)
            _items(out["config"], rec.run.config.update, json)
        elif kind == "config":
            _items(out["config"], rec.config.update, json)
        elif kind == "summary":
            _items(out["summary"], rec.summary.update, json)
        elif kind == "history":
            row: dict[str, Any] = {}
            _items(row, rec.history.item, json)
            out["history"].append(row)
        elif kind == "artifact":
            out["artifacts"][rec.artifact.name] = sorted(e.path for e in rec.artifact.manifest.contents)
    out["config"] = {k: (v["value"] if isinstance(v, dict) and "value" in v and set(v) <= {"value", "desc"} else v)
                     for k, v in out["config"].items() if k != "_wandb"}
    return out


def _items(into: dict[str, Any], items, json) -> None:
    for it in items:
        key = it.key or "/".join(it.nested_key)
        into[key] = json.loads(it.value_json)
