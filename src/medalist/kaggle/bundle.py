"""Team bundles: move runs (config, OOF, test predictions, metrics, folds hash) between workspaces.

A team shares one CV: every member's runs are made on the same ``folds.parquet``,
so OOF predictions can be compared and stacked. ``export`` writes ``bundle.tar.gz``::

    manifest.json            format, competition, folds hash, runs, sha256 of every file
    runs/<id>/config.yaml, run.json, metrics.json, oof.parquet, test.parquet, [importance, curves,
                             git.json, versions.json, models/ with --models]

Bundles carry data, never code. ``export --models`` takes native model formats only (LightGBM
text, XGBoost UBJ, CatBoost CBM, skops, torch weights as safetensors); a model folder holding a
pickle (a ``model.joblib`` fallback, an old ``weights.pt``) is left out and listed as skipped.
``import`` reads the bundle once, front to back, behind decompression caps, and refuses absolute
paths, ``..``, links and special files, oversized members, files the manifest does not list or
whose hash differs, pickles and anything not in a data format (see
:mod:`medalist.kaggle.bundle_safety`), configs whose dotted paths this workspace's checks refuse,
and runs made on other folds (folds hash). Nothing is written under ``runs/`` unless every check passes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from medalist.core.errors import FoldsError, MedalistError, RunError
from medalist.kaggle.bundle_safety import DATA_SUFFIXES, BundleError, _pickle_kind, check_content, check_name, open_stream
from medalist.runs.record import RunRecord
from medalist.runs.store import Run

__all__ = ["export_runs", "import_bundle", "BundleError", "secret_values", "assert_no_secrets", "check_bundle_config"]

FORMAT = "medalist-bundle/1"
RUN_FILES = ("config.yaml", "run.json", "metrics.json", "oof.parquet", "test.parquet", "importance.parquet",
             "curves.parquet", "git.json", "versions.json")
REQUIRED = ("config.yaml", "run.json", "metrics.json", "oof.parquet", "test.parquet")


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
    skipped: list[dict[str, str]] = []
    for r in runs:
        for name in REQUIRED:
            r._require_done(name)
        for name in RUN_FILES:
            p = r.path / name
            if p.is_file():
                files[f"runs/{r.id}/{name}"] = p.read_bytes()
        if models and (r.path / "models").is_dir():
            skipped += _model_files(r, files)
    assert_no_secrets(files, "bundle")
    manifest = {
        "format": FORMAT,
        "competition": ws.competition.name,
        "folds_hash": folds.pop(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "runs": [{"id": r.id, "model": r.record.model, "cv": r.cv, "metric": r.metrics.get("metric")} for r in runs],
        "files": {k: _sha(v) for k, v in sorted(files.items())},
        "skipped": skipped,
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


def _model_files(run: Run, files: dict[str, bytes]) -> list[dict[str, str]]:
    """Add the run's model files that ``import`` will accept to ``files``; return what was left out and why.

    Each fold's folder goes whole or not at all (a model missing its native file is no model); a file
    directly under ``models/`` (a stack's state) goes alone. Acceptance is the import's own content check.
    """
    skipped = []
    models = run.path / "models"
    units = [[p] for p in sorted(models.iterdir()) if not p.is_dir() or p.is_symlink()]
    units += [sorted(d.rglob("*")) for d in sorted(models.iterdir()) if d.is_dir() and not d.is_symlink()]
    for unit in units:
        found, why = {}, None
        for p in unit:
            name = f"runs/{run.id}/{p.relative_to(run.path).as_posix()}"
            if p.is_symlink() or not (p.is_file() or p.is_dir()):
                why = f"{p.name} is a link or special file"
            elif p.is_file():
                data = p.read_bytes()
                try:
                    check_content(name, p, data[:65536], data[-8:], len(data), "export")
                except BundleError as e:
                    why = f"{p.name}: {e.found} (bundles carry data, never code)"
                found[name] = data
            if why:
                break
        if why:
            rel = unit[0].relative_to(models).parts[0] if unit else "?"
            skipped.append({"run": run.id, "model": rel, "reason": why})
        else:
            files.update(found)
    return skipped


_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def _kind(m: tarfile.TarInfo) -> str:
    return "file" if m.isreg() else "dir" if m.isdir() else "sym" if m.issym() else "link" if m.islnk() else "other"


def import_bundle(ws, bundle: Path, *, force: bool = False) -> dict[str, Any]:
    """Check a bundle completely, then move its runs into this workspace's ``runs/``.

    Members are staged in ``.medalist/import-*`` (beside ``runs/``, removed whatever happens) and
    moved into ``runs/`` only once every check has passed; no file in the bundle is ever loaded
    as code (no pickle is accepted, configs are parsed as YAML data and their dotted paths
    checked without importing anything).
    """
    bundle = Path(bundle)
    label = bundle.name
    if not bundle.is_file():
        raise BundleError(str(bundle), expected="a bundle file (medalist export)", found="no such file")
    (ws.root / ".medalist").mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=ws.root / ".medalist", prefix="import-"))
    try:
        manifest, ours = _read_bundle(ws, bundle, label, stage)
        run_ids = [r["id"] for r in manifest["runs"]]
        for rid in run_ids:
            _check_run(ws, stage / "runs" / rid, f"{label}: runs/{rid}", ours, force)
        ws.runs_dir.mkdir(parents=True, exist_ok=True)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for rid in run_ids:
            src = stage / "runs" / rid
            rec = RunRecord.load(src / "run.json")
            rec.imported = {"bundle": label, "time": now}
            rec.save(src / "run.json")
            dst = ws.runs_dir / rid
            if dst.exists():
                shutil.rmtree(dst)
            os.replace(src, dst)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return {"bundle": str(bundle), "folds_hash": ours, "runs": run_ids, "competition": manifest.get("competition")}


def _read_bundle(ws, bundle: Path, label: str, stage: Path) -> tuple[dict[str, Any], str]:
    """Read the bundle once, front to back: manifest first, then every member checked and staged."""
    from medalist.kaggle import bundle_safety as bs

    stream = bs.open_stream(bundle, label)
    try:
        tar = tarfile.open(fileobj=stream, mode="r:")
    except tarfile.TarError as e:
        stream.close()
        raise BundleError(str(bundle), expected="a .tar.gz bundle", found=f"unreadable ({e})") from None
    except BaseException:
        stream.close()
        raise
    manifest, ours, seen, n = None, "", set(), 0
    with tar, stream:
        while True:
            try:
                m = tar.next()
            except tarfile.TarError as e:
                raise BundleError(label, expected="a complete tar archive", found=f"a damaged one ({e})") from None
            if m is None:
                break
            n += 1
            if n > bs.MAX_MEMBERS:
                raise BundleError(label, expected=f"at most {bs.MAX_MEMBERS} entries", found="more", fix=bs._NO)
            p = check_name(m.name, _kind(m), m.size, label)
            if m.isdir():
                continue
            if m.name in seen:
                raise BundleError(f"{label}: {m.name}", expected="each file once", found="a second copy", fix=bs._NO)
            seen.add(m.name)
            if manifest is None:
                if m.name != "manifest.json":
                    raise BundleError(label, expected="manifest.json as the first file (as `medalist export` writes it)",
                                      found=f"{m.name!r} first", fix=bs._NO)
                manifest, ours = _manifest(ws, tar.extractfile(m).read(), label)
                continue
            digest = manifest["files"].get(m.name)
            if digest is None:
                raise BundleError(f"{label}: {m.name}", expected="only files listed in manifest.json", found="an unlisted file",
                                  fix=bs._NO)
            if p.parts[1] not in {r["id"] for r in manifest["runs"]}:
                raise BundleError(f"{label}: {m.name}", expected="files of the runs manifest.json lists", found="another run",
                                  fix=bs._NO)
            _stage(tar, m, stage, label, digest)
    if manifest is None:
        raise BundleError(label, expected="manifest.json", found="no manifest", fix="make bundles with `medalist export`")
    missing = sorted(set(manifest["files"]) - seen)
    if missing:
        raise BundleError(f"{label}: {missing[0]}", expected="every file of the manifest", found="missing")
    return manifest, ours


def _manifest(ws, data: bytes, label: str) -> tuple[dict[str, Any], str]:
    """Parse and check manifest.json: format, listing, run ids, and the folds hash against this workspace's."""
    from medalist.workspace.folds import Folds

    try:
        manifest = json.loads(data)
    except ValueError:
        raise BundleError(f"{label}: manifest.json", expected="JSON", found="unparseable content") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise BundleError(f"{label}: manifest.json format", expected=FORMAT, found=repr(found))
    files, runs = manifest.get("files"), manifest.get("runs")
    if not isinstance(files, dict) or not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        raise BundleError(f"{label}: manifest.json", expected="'files' (name -> sha256) and 'runs' (a list)", found="other keys")
    for r in runs:
        if not _RUN_ID.match(str(r.get("id", ""))):
            raise BundleError(f"{label}: manifest.json runs", expected="run ids of letters, digits, '.', '_', '-'",
                              found=repr(r.get("id")))
    try:
        ours = Folds.load(ws.folds_path).hash
    except MedalistError:
        raise FoldsError(str(ws.folds_path), expected="this workspace's folds (to compare with the bundle's)", found="none",
                         fix="run `medalist folds` with the team's settings, or copy the team's folds.parquet") from None
    theirs = manifest.get("folds_hash")
    if theirs != ours:
        raise FoldsError(f"{label}: folds hash", expected=f"{ours} (this workspace's folds.parquet)", found=f"{theirs}",
                         fix="use the team's shared folds.parquet; OOF from other folds cannot be compared or stacked")
    return manifest, ours


def _stage(tar: tarfile.TarFile, m: tarfile.TarInfo, stage: Path, label: str, digest: str) -> None:
    """Copy one member into the staging folder, hashing it on the way, then check its content."""
    dest = stage / m.name
    h, head, tail, total = hashlib.sha256(), b"", b"", 0
    src = tar.extractfile(m)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "xb") as out:
            while chunk := src.read(1 << 20):
                total += len(chunk)
                h.update(chunk)
                head += chunk[: max(0, 65536 - len(head))]
                tail = (tail + chunk)[-8:]
                out.write(chunk)
    except (OSError, tarfile.TarError) as e:
        raise BundleError(f"{label}: {m.name}", expected="a file that unpacks", found=f"{type(e).__name__}: {e}") from None
    if total != m.size:
        raise BundleError(f"{label}: {m.name}", expected=f"{m.size} bytes", found=f"{total} (truncated)")
    if h.hexdigest() != digest:
        raise BundleError(f"{label}: {m.name}", expected=f"sha256 {str(digest)[:12]}…", found="another content (corrupted or edited)")
    check_content(m.name, dest, head, tail, m.size, label)


def _check_run(ws, src: Path, where: str, ours: str, force: bool) -> None:
    """A staged run: its run.json on our folds, its config re-validated here, its id free (or --force)."""
    if not (src / "run.json").is_file():
        raise BundleError(f"{where}/run.json", expected="the run's run.json", found="missing")
    try:
        theirs = RunRecord.from_dict(json.loads((src / "run.json").read_text()), f"{where}/run.json").folds_hash
    except ValueError:
        raise BundleError(f"{where}/run.json", expected="JSON", found="unparseable content") from None
    if theirs != ours:
        raise FoldsError(where, expected=f"folds hash {ours}", found=str(theirs), fix="import only runs made on the team's folds")
    if (src / "config.yaml").is_file():
        check_bundle_config(src / "config.yaml", f"{where}/config.yaml")
    rid = src.name
    if (ws.runs_dir / rid).exists() and not force:
        raise RunError(f"run '{rid}'", expected="a new run id", found="a run with this id exists here",
                       fix="pass --force to replace it, or rename the run in the source workspace")


def check_bundle_config(path: Path, where: str) -> None:
    """Re-validate a config from a bundle as this workspace would its own: safe YAML, the experiment schema,
    and every dotted path (``sklearn:`` models, feature ``function``, a dotted metric) through this
    workspace's trust list (:func:`medalist.core.safety.check_config_paths`) — all without importing anything."""
    from medalist.core.config import ExperimentConfig, load_yaml, validate
    from medalist.core.safety import check_config_paths

    data = load_yaml(path)
    if not isinstance(data, dict) or "base" in data:
        raise BundleError(where, expected="a run's resolved config", found="a 'base:' key (it would read other files)"
                          if isinstance(data, dict) else type(data).__name__, fix="do not import this bundle")
    check_config_paths(data, where=where)  # model, params, custom blocks, metric and trust: under this workspace's list
    data.pop("competition", None)
    validate(ExperimentConfig, data, where)
