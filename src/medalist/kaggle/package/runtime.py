"""The notebook side of a package: what runs inside Kaggle, offline, from the packaged wheels.

``inference.py`` (see :mod:`medalist.kaggle.package.notebook`) installs the wheels and calls
:func:`predict_package`; it reads only the package folder and the competition data. It rebuilds a
small workspace in a scratch folder — the packaged ``medalist.yaml`` and folds, the competition data
folder linked in where the workspace had its data, the packaged joined tables and run folders — and
re-predicts every run of the package's graph on the test rows there, upstream first:

- model runs with :func:`medalist.cv.predict.predict_run` (static blocks on train+test, in-fold blocks
  fitted per split from the train rows, each fold's models, ``model_selection_by`` per row);
- blends and stacks with :func:`medalist.ensemble.reapply.predict_ensemble` from their members' new
  test predictions and their saved weights / meta models.

Keep its imports to medalist's base dependencies and the runs' model libraries: nothing else is shipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import Any

import polars as pl

from medalist.core.errors import MedalistError
from medalist.runs.record import RunRecord

__all__ = ["predict_package", "PackageError", "MANIFEST", "mirror_workspace", "mean_predictions"]

MANIFEST = "package.json"
RUN_LINKS = ("config.yaml", "run.json", "metrics.json", "oof.parquet", "models")


class PackageError(MedalistError):
    """A package cannot be built or used."""


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink() if not dst.is_dir() or dst.is_symlink() else shutil.rmtree(dst)
    os.symlink(src.resolve(), dst, target_is_directory=src.is_dir())


def _data_dirs(comp: dict[str, Any]) -> list[PurePosixPath]:
    """The workspace-relative folders the competition's data files live in (usually ``data``)."""
    out = []
    for key in ("train", "test", "sample_submission"):
        p = PurePosixPath(str(comp["data"][key]))
        if p.is_absolute():
            raise PackageError(f"medalist.yaml: competition.data.{key}", expected="a path inside the workspace",
                               found=str(p), fix="keep the competition files in the workspace's data folder")
        if p.parent not in out:
            out.append(p.parent)
    return out


def mirror_workspace(pkg: Path, input_dir: Path, root: Path) -> Path:
    """Build the scratch workspace at ``root`` from package ``pkg`` and the competition data in ``input_dir``."""
    manifest = json.loads((pkg / MANIFEST).read_text())
    comp = manifest["workspace"]["competition"]
    root.mkdir(parents=True, exist_ok=True)
    import yaml

    (root / "medalist.yaml").write_text(yaml.safe_dump(manifest["workspace"], sort_keys=False))
    for d in _data_dirs(comp):
        for entry in sorted(input_dir.iterdir()):
            _link(entry, root / d / entry.name)
    for rel in manifest.get("tables", []):  # joined tables as at training (they win over input files of that name)
        _link(pkg / "workspace" / rel, root / rel)
    if (pkg / "workspace" / "pickles.jsonl").is_file():  # the packaging workspace's records of its own pickles
        (root / ".medalist").mkdir(exist_ok=True)
        (root / ".medalist" / "pickles.jsonl").write_bytes((pkg / "workspace" / "pickles.jsonl").read_bytes())
    if (pkg / "workspace" / "folds.parquet").is_file():
        _link(pkg / "workspace" / "folds.parquet", root / manifest["workspace"]["folds"]["file"])
    for rid in manifest["order"]:
        for name in RUN_LINKS:
            if (pkg / "runs" / rid / name).exists():
                _link(pkg / "runs" / rid / name, root / "runs" / rid / name)
    return root


def _predict_node(ws, pkg: Path, rid: str, kind: str, test_ids: pl.Series) -> pl.DataFrame:
    """One run's test predictions (id + pred columns) on the scratch workspace's test rows."""
    run_dir = pkg / "runs" / rid
    rec = RunRecord.load(run_dir / "run.json")
    if kind in ("blend", "stack"):
        from medalist.ensemble.reapply import predict_ensemble
        from medalist.workspace.data import read_table

        members = {m: pl.read_parquet(ws.runs_dir / m / "test.parquet") for m in (rec.members or [])}
        return predict_ensemble(run_dir, members, read_table(ws.test_path, what="test"))
    from medalist.cv.predict import predict_run

    pred = predict_run(ws.runs_dir / rid, ws)
    p2 = pred.reshape(len(pred), -1)
    return pl.DataFrame({test_ids.name: test_ids, **{c: p2[:, i] for i, c in enumerate(rec.pred_columns or ["pred"])}})


class _PackagedRun:
    """What build_submission needs of a run: its record and test predictions."""

    def __init__(self, record: RunRecord, test: pl.DataFrame) -> None:
        self.record, self._test = record, test

    def test(self) -> pl.DataFrame:
        return self._test


def mean_predictions(frames: list[pl.DataFrame], id_col: str) -> pl.DataFrame:
    """The equal-weight mean of prediction frames with the same ids in the same order."""
    test = frames[0]
    if len(frames) > 1:
        cols = [c for c in test.columns if c != id_col]
        mean = sum(f.select(cols).to_numpy() for f in frames) / len(frames)
        test = test.with_columns([pl.Series(c, mean[:, i]) for i, c in enumerate(cols)])
    return test


def predict_package(pkg: Path, input_dir: Path, out: Path, *, scratch: Path | None = None) -> dict[str, Any]:
    """Re-predict the package's run graph on ``input_dir``'s test rows; write and validate ``out`` (submission.csv).

    Also writes ``test_<run>.parquet`` (every run's raw test predictions) next to ``out``. Several packaged
    runs are averaged with equal weights; blend them into one run to choose the weights.
    """
    from medalist.kaggle.submit import build_submission, validate_submission
    from medalist.metrics.registry import get_metric
    from medalist.workspace.data import read_table
    from medalist.workspace.paths import Workspace

    pkg, input_dir, out = Path(pkg).resolve(), Path(input_dir).resolve(), Path(out).resolve()
    manifest = json.loads((pkg / MANIFEST).read_text())
    own = scratch is None
    root = Path(tempfile.mkdtemp(prefix="medalist-ws-")) if own else Path(scratch)
    t0 = time.perf_counter()
    try:
        ws = Workspace.open(mirror_workspace(pkg, input_dir, root))
        comp = ws.competition
        for p in (ws.train_path, ws.test_path, ws.sample_submission_path):
            if not p.is_file():
                raise PackageError(str(input_dir / p.name), expected="the competition's file", found="no such file",
                                   fix="pass --input DIR (the competition data folder)")
        ids = read_table(ws.test_path, what="test", columns=[comp.id]).get_column(comp.id)
        out.parent.mkdir(parents=True, exist_ok=True)
        seconds: dict[str, float] = {}
        frames: dict[str, pl.DataFrame] = {}
        with contextlib.chdir(ws.root):  # image paths in configs are relative to the workspace
            for rid in manifest["order"]:
                t = time.perf_counter()
                frame = _predict_node(ws, pkg, rid, manifest["graph"][rid]["kind"], ids)
                frame.write_parquet(ws.runs_dir / rid / "test.parquet")
                frame.write_parquet(out.parent / f"test_{rid}.parquet")
                frames[rid] = frame
                seconds[rid] = round(time.perf_counter() - t, 3)
        roots = manifest["runs"]
        rec = RunRecord.load(pkg / "runs" / roots[0] / "run.json")
        sub = build_submission(ws, _PackagedRun(rec, mean_predictions([frames[r] for r in roots], comp.id)))
        sample = read_table(ws.sample_submission_path, what="sample submission")
        validate_submission(sub, sample, id_col=comp.id, task=comp.task, metric=get_metric(comp.metric), file=str(out))
        sub.write_csv(out)
    finally:
        if own:
            shutil.rmtree(root, ignore_errors=True)
    return {"submission": str(out), "rows": sub.height, "runs": roots, "order": manifest["order"], "seconds": seconds,
            "total_seconds": round(time.perf_counter() - t0, 3), "device": _device()}


def _device() -> str:
    """Where the prediction ran: ``cuda`` when torch was used and sees a GPU, else ``cpu``."""
    import sys

    torch = sys.modules.get("torch")
    try:
        return "cuda" if torch is not None and torch.cuda.is_available() else "cpu"
    except Exception:  # noqa: BLE001 - a broken CUDA install means CPU
        return "cpu"
