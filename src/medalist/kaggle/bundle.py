"""Team bundles: move runs (config, OOF, test predictions, metrics, folds hash) between workspaces.

A team shares one CV: every member's runs are made on the same ``folds.parquet``,
so OOF predictions can be compared and stacked. ``export`` writes ``bundle.tar.gz``::

    manifest.json            format, competition, folds hash, runs, sha256 of every file
    runs/<id>/config.yaml, run.json, metrics.json, oof.parquet, test.parquet, [importance, curves,
                             git.json, versions.json, models/ with --models]

``import`` refuses absolute paths, ``..``, links and special files (its own checks, then
``tarfile``'s ``filter='data'``), files the manifest does not list or whose hash differs, and runs
made on other folds (folds hash). Nothing is written unless every check passes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from medalist.core.errors import FoldsError, MedalistError, RunError
from medalist.runs.record import RunRecord
from medalist.runs.store import Run

__all__ = ["export_runs", "import_bundle", "BundleError", "secret_values", "assert_no_secrets"]

FORMAT = "medalist-bundle/1"
RUN_FILES = ("config.yaml", "run.json", "metrics.json", "oof.parquet", "test.parquet", "importance.parquet",
             "curves.parquet", "git.json", "versions.json")
REQUIRED = ("config.yaml", "run.json", "metrics.json", "oof.parquet", "test.parquet")


class BundleError(MedalistError):
    """A bundle is malformed, unsafe or from another CV."""


def secret_values() -> list[str]:
    """Kaggle secrets of this environment (env vars, kaggle.json, access_token) — never to be written anywhere."""
    vals = [os.environ.get(k) for k in ("KAGGLE_KEY", "KAGGLE_API_TOKEN")]
    dirs = [os.environ.get("KAGGLE_CONFIG_DIR"), os.path.expanduser("~/.kaggle"),
            os.path.join(os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "kaggle")]
    for d in filter(None, dirs):
        kj = Path(d) / "kaggle.json"
        try:
            vals.append(json.loads(kj.read_text()).get("key"))
        except (OSError, ValueError, AttributeError):
            pass
        try:
            vals.append((Path(d) / "access_token").read_text().strip())
        except OSError:
            pass
    return sorted({v for v in vals if v and len(v) >= 8})


def assert_no_secrets(files: dict[str, bytes] | list[Path], what: str) -> None:
    """Raise if any file's bytes contain a Kaggle secret of this environment."""
    secrets = [s.encode() for s in secret_values()]
    if not secrets:
        return
    items = files.items() if isinstance(files, dict) else ((str(p), Path(p).read_bytes()) for p in files)
    for name, data in items:
        if any(s in data for s in secrets):
            raise BundleError(f"{what}: {name}", expected="no credentials", found="the Kaggle key in this file",
                              fix="remove the key from the file (medalist never writes it; something else did)")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def export_runs(ws, run_ids: list[str], out: Path, *, models: bool = False) -> dict[str, Any]:
    """Write the runs into a ``.tar.gz`` bundle; return its manifest."""
    if not run_ids:
        raise RunError("medalist export", expected="one or more RUN ids", found="none", fix="see `medalist runs`")
    runs = [Run.open(ws, r) for r in run_ids]
    folds = {r.record.folds_hash for r in runs}
    if len(folds) != 1:
        raise FoldsError("medalist export", expected="runs made on the same folds",
                         found=f"folds hashes {sorted(map(str, folds))}", fix="export runs of one CV scheme per bundle")
    files: dict[str, bytes] = {}
    for r in runs:
        for name in REQUIRED:
            r._require_done(name)
        for name in RUN_FILES:
            p = r.path / name
            if p.is_file():
                files[f"runs/{r.id}/{name}"] = p.read_bytes()
        if models and (r.path / "models").is_dir():
            for p in sorted((r.path / "models").rglob("*")):
                if p.is_file() and not p.is_symlink():
                    files[f"runs/{r.id}/{p.relative_to(r.path).as_posix()}"] = p.read_bytes()
    assert_no_secrets(files, "bundle")
    manifest = {
        "format": FORMAT,
        "competition": ws.competition.name,
        "folds_hash": folds.pop(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "runs": [{"id": r.id, "model": r.record.model, "cv": r.cv, "metric": r.metrics.get("metric")} for r in runs],
        "files": {k: _sha(v) for k, v in sorted(files.items())},
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from medalist.core.io import atomic_write

    def write(p: Path) -> None:
        with tarfile.open(p, "w:gz") as tar:
            for name, data in [("manifest.json", json.dumps(manifest, indent=2).encode()), *sorted(files.items())]:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                info.mtime = int(datetime.now(timezone.utc).timestamp())
                tar.addfile(info, io.BytesIO(data))

    atomic_write(out, write)
    return {**manifest, "path": str(out), "bytes": out.stat().st_size}


def _check_member(m: tarfile.TarInfo, bundle: str) -> None:
    name = m.name
    where = f"{bundle}: entry {name!r}"
    p = PurePosixPath(name)
    if name.startswith(("/", "\\")) or p.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise BundleError(where, expected="relative paths", found="an absolute path", fix="do not import this bundle")
    if ".." in p.parts or "\\" in name:
        raise BundleError(where, expected="paths inside the bundle", found="'..' (path traversal)", fix="do not import this bundle")
    if m.issym() or m.islnk():
        raise BundleError(where, expected="regular files", found=f"a link to {m.linkname!r}", fix="do not import this bundle")
    if not (m.isfile() or m.isdir()):
        raise BundleError(where, expected="regular files", found="a device, fifo or other special file", fix="do not import this bundle")
    if m.isfile() and name != "manifest.json" and not (len(p.parts) >= 3 and p.parts[0] == "runs"):
        raise BundleError(where, expected="manifest.json or files under runs/<id>/", found="a file elsewhere")


def import_bundle(ws, bundle: Path, *, force: bool = False) -> dict[str, Any]:
    """Check a bundle completely, then copy its runs into this workspace's ``runs/``."""
    from medalist.workspace.folds import Folds

    bundle = Path(bundle)
    label = bundle.name
    if not bundle.is_file():
        raise BundleError(str(bundle), expected="a bundle file (medalist export)", found="no such file")
    try:
        tar = tarfile.open(bundle, "r:*")
    except tarfile.TarError as e:
        raise BundleError(str(bundle), expected="a .tar.gz bundle", found=f"unreadable ({e})") from None
    with tar:
        members = tar.getmembers()
        for m in members:
            _check_member(m, label)
        names = {m.name: m for m in members if m.isfile()}
        if "manifest.json" not in names:
            raise BundleError(label, expected="manifest.json", found="no manifest", fix="make bundles with `medalist export`")
        manifest = json.loads(tar.extractfile(names["manifest.json"]).read())
        if manifest.get("format") != FORMAT:
            raise BundleError(f"{label}: manifest.json format", expected=FORMAT, found=repr(manifest.get("format")))
        listed = manifest.get("files", {})
        extra = sorted(set(names) - set(listed) - {"manifest.json"})
        if extra:
            raise BundleError(f"{label}: {extra[0]}", expected="only files listed in manifest.json", found="an unlisted file")
        for name, digest in listed.items():
            if name not in names:
                raise BundleError(f"{label}: {name}", expected="every file of the manifest", found="missing")
            if _sha(tar.extractfile(names[name]).read()) != digest:
                raise BundleError(f"{label}: {name}", expected=f"sha256 {digest[:12]}…", found="another content (corrupted or edited)")
        # the CV must be ours
        try:
            ours = Folds.load(ws.folds_path).hash
        except MedalistError:
            raise FoldsError(str(ws.folds_path), expected="this workspace's folds (to compare with the bundle's)", found="none",
                             fix="run `medalist folds` with the team's settings, or copy the team's folds.parquet") from None
        theirs = manifest.get("folds_hash")
        if theirs != ours:
            raise FoldsError(f"{label}: folds hash", expected=f"{ours} (this workspace's folds.parquet)", found=f"{theirs}",
                             fix="use the team's shared folds.parquet; OOF from other folds cannot be compared or stacked")
        run_ids = [r["id"] for r in manifest.get("runs", [])]
        for rid in run_ids:
            info_name = f"runs/{rid}/run.json"
            if info_name not in names:
                raise BundleError(f"{label}: {info_name}", expected="the run's run.json", found="missing")
            theirs_run = RunRecord.from_dict(json.loads(tar.extractfile(names[info_name]).read()), f"{label}: {info_name}").folds_hash
            if theirs_run != ours:
                raise FoldsError(f"{label}: run {rid}", expected=f"folds hash {ours}", found=str(theirs_run),
                                 fix="import only runs made on the team's folds")
            if (ws.runs_dir / rid).exists() and not force:
                raise RunError(f"run '{rid}'", expected="a new run id", found="a run with this id exists here",
                               fix="pass --force to replace it, or rename the run in the source workspace")
        ws.runs_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=ws.runs_dir, prefix=".import-") as tmp:
            tar.extractall(tmp, members=[m for m in members if m.name != "manifest.json"], filter="data")
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            for rid in run_ids:
                src = Path(tmp) / "runs" / rid
                info_p = src / "run.json"
                rec = RunRecord.load(info_p)
                rec.imported = {"bundle": label, "time": now}
                rec.save(info_p)
                dst = ws.runs_dir / rid
                if dst.exists():
                    shutil.rmtree(dst)
                os.replace(src, dst)
    return {"bundle": str(bundle), "folds_hash": ours, "runs": run_ids, "competition": manifest.get("competition")}
