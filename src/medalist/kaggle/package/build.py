"""The build side of a package: the run graph, its files, the measured dependencies and the wheels.

:func:`build_package` collects every run the requested runs read predictions from (``oof_feature``
runs, blend and stack members, transitively), checks the graph (finished, on this workspace's folds,
nothing unshippable), copies what re-predicting needs, then predicts once with the finished folder in a
child process (the probe). The probe must reproduce every run's ``test.parquet`` (max abs difference
<= 1e-6) or the build fails; the distributions it imported become the shipped wheels, and its timing
gives the notebook's predicted run time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

from medalist.core.errors import ConfigError, FoldsError, RunError
from medalist.kaggle.package.notebook import inference_script
from medalist.kaggle.package.runtime import MANIFEST, RUN_LINKS, PackageError
from medalist.runs.graph import RunGraph, build_graph
from medalist.runs.store import Run

__all__ = ["build_package", "collect_graph", "FORMAT", "TOLERANCE"]

FORMAT = "medalist-package/2"
TOLERANCE = 1e-6  # max abs difference between the package's and the run's own test predictions

_PROBE = """
import json, sys, time, importlib.metadata as md
from pathlib import Path
t0 = time.perf_counter()
from medalist.kaggle.package.runtime import predict_package
res = predict_package(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
res["wall_seconds"] = round(time.perf_counter() - t0, 3)
tops = {m.split('.')[0] for m in sys.modules}
dists = md.packages_distributions()
out = {}
for t in sorted(tops):
    for d in dists.get(t, []):
        out[d] = md.version(d)
print(json.dumps({"imported": out, "result": res}))
"""


def collect_graph(ws, run_ids: list[str]) -> RunGraph:
    """The prediction graph of ``run_ids``, checked: every run finished, on the workspace's folds, shippable."""
    from medalist.workspace.folds import Folds

    if not run_ids:
        raise RunError("medalist package", expected="one or more RUN ids", found="none", fix="e.g. medalist package lgbm-001 pkg/")
    g = build_graph(ws.runs_dir, list(run_ids))
    ours = Folds.load(ws.folds_path).hash if ws.folds_path.is_file() else None
    for rid in g.order:
        n = g.nodes[rid]
        where = f"run '{rid}'" + ("" if rid in g.roots else " (an input of the packaged runs)")
        if n.kind == "other":
            raise PackageError(where, expected="a model run, blend or stack", found=f"model '{n.model}'",
                               fix="package the runs made by medalist train, blend or stack")
        if ours is not None and n.folds_hash != ours:
            raise FoldsError(where, expected=f"a run on this workspace's folds (hash {ours})", found=f"folds {n.folds_hash}",
                             fix="retrain it on the current folds.parquet, or package runs of one CV scheme")
        if n.custom:
            raise PackageError(where, expected="feature blocks whose code ships with medalist",
                               found=f"custom blocks {n.custom}", fix="turn the custom block into a registered block, or drop it")
        for t in n.tables:
            if not ws.path(t).is_file():
                raise PackageError(f"{where}: joined table {t}", expected="the table the run joined", found="no such file",
                                   fix="restore the table in the workspace")
        if n.kind == "model":
            from medalist.cv.predict import model_splits

            splits, full = model_splits(ws.runs_dir / rid)
            if not (splits or full):
                raise PackageError(where, expected="fitted models under models/", found="none",
                                   fix="retrain it (medalist train saves the models of every fold)")
    return g


def _empty_folder(out: Path, *, force: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not force:
            raise ConfigError(str(out), expected="a new or empty folder", found="files", fix="choose another OUT or pass --force")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def _dataset_meta(ws, run_ids: list[str], out: Path, slug: str | None, comp_slug: str) -> tuple[str, str]:
    """dataset-metadata.json (the Kaggle dataset); (dataset id, title)."""
    user = os.environ.get("KAGGLE_USERNAME") or "USERNAME"
    dataset = slug or f"{user}/medalist-{re.sub(r'[^a-z0-9-]+', '-', run_ids[0].lower())}"
    if dataset.count("/") != 1:
        raise ConfigError("--slug", expected="USER/DATASET", found=repr(dataset))
    title = f"medalist {comp_slug} {' '.join(run_ids)}"[:50]
    (out / "dataset-metadata.json").write_text(json.dumps({"title": title, "id": dataset, "licenses": [{"name": "CC0-1.0"}]}, indent=2) + "\n")
    return dataset, title


def _copy_graph(ws, g: RunGraph, out: Path) -> list[str]:
    """Run folders (what re-predicting reads), the folds, the joined tables; the tables' relative paths."""
    for rid in g.order:
        src, dst = ws.runs_dir / rid, out / "runs" / rid
        dst.mkdir(parents=True)
        for name in RUN_LINKS:
            p = src / name
            if p.is_dir():
                shutil.copytree(p, dst / name, symlinks=False)
            elif p.is_file():
                shutil.copy2(p, dst / name)
    (out / "workspace").mkdir()
    if ws.folds_path.is_file():
        shutil.copy2(ws.folds_path, out / "workspace" / "folds.parquet")
    _carry_pickle_records(ws, out)
    tables = sorted({t for n in g.nodes.values() for t in n.tables})
    for t in tables:
        if Path(t).is_absolute() or ".." in Path(t).parts:
            raise PackageError(f"joined table {t}", expected="a path inside the workspace", found=t, fix="move the table into the workspace")
        (out / "workspace" / t).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ws.path(t), out / "workspace" / t)
    return tables


def _carry_pickle_records(ws, out: Path) -> None:
    """The workspace's SHA-256 records of the pickles among the packaged model files (sklearn models that
    skops could not save), so the notebook's rebuilt workspace loads them as this one does; unrecorded
    pickles are refused there as here."""
    from medalist.core.safety import _ledger, sha256_file

    recorded = _ledger(ws.root)
    lines = []
    for p in sorted((out / "runs").rglob("*")):
        if p.is_file() and p.suffix in (".joblib", ".pkl", ".pickle") and (digest := sha256_file(p)) in recorded:
            lines.append(json.dumps({"path": p.relative_to(out).as_posix(), "sha256": digest}))
    if lines:
        (out / "workspace" / "pickles.jsonl").write_text("\n".join(lines) + "\n")


def _workspace_manifest(ws) -> dict[str, Any]:
    """The medalist.yaml the notebook rebuilds: the competition (no answers), the folds file, no tracking."""
    cfg = ws.config.model_dump(mode="json", exclude_none=True)
    cfg["competition"].pop("answers", None)
    cfg["tracking"] = "none"
    cfg.setdefault("folds", {})["file"] = "folds.parquet"
    return cfg


def input_folder(ws, dest: Path) -> Path:
    """A folder like Kaggle's competition input: links to every entry of the workspace's data folder."""
    from medalist.kaggle.package.inputs import copy_input

    return copy_input(ws, dest, link=True)


def compare_predictions(got: pl.DataFrame, want: pl.DataFrame, rid: str, id_col: str) -> float:
    """Max abs difference of two prediction frames; raises unless they hold the same ids in the same order
    and agree within :data:`TOLERANCE`."""
    from medalist.kaggle.package.inputs import PredictionMismatch, prediction_diff

    where = f"package of run '{rid}'"
    try:
        worst, row, _ = prediction_diff(got, want, id_col)
    except PredictionMismatch as e:
        raise PackageError(where, expected=f"predictions for {e.expected}", found=e.found,
                           fix="re-run the run with this medalist version") from None
    if not got.get_column(id_col).equals(want.get_column(id_col)):
        raise PackageError(where, expected="the run's test ids in the test file's order", found="another order",
                           fix="re-run the run with this medalist version")
    if worst > TOLERANCE:
        raise PackageError(where, expected=f"the run's test predictions (max abs difference <= {TOLERANCE})",
                           found=f"difference {worst:.3g} at id {row!r}", fix="re-run the run with this medalist version; if it persists, report it")
    return worst


def _run_probe(out: Path, data_dir: Path, dest: Path) -> dict[str, Any]:
    res = subprocess.run([sys.executable, "-c", _PROBE, str(out), str(data_dir), str(dest / "submission.csv")],
                         capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    if res.returncode != 0:
        raise PackageError(f"package {out}", expected="inference to run", found=(res.stderr.strip().splitlines() or ["?"])[-1][:400],
                           fix="see the error above; fix the run or its inputs")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _half_input(ws, data_dir: Path, dest: Path) -> Path | None:
    """An input folder like ``data_dir`` whose test (and sample submission) hold the first half of the rows."""
    from medalist.workspace.data import read_table

    test = read_table(ws.test_path, what="test")
    if test.height < 20:
        return None
    dest.mkdir()
    for entry in data_dir.iterdir():
        if entry.name not in (ws.test_path.name, ws.sample_submission_path.name):
            os.symlink(entry.resolve(), dest / entry.name, target_is_directory=entry.is_dir())
    half = test.head(test.height // 2)
    sample = read_table(ws.sample_submission_path, what="sample submission")
    sample = half.select(ws.competition.id).join(sample, on=ws.competition.id, how="left", maintain_order="left")
    for frame, p in ((half, ws.test_path), (sample, ws.sample_submission_path)):
        frame.write_parquet(dest / p.name) if p.suffix == ".parquet" else frame.write_csv(dest / p.name)
    return dest


def _probe(ws, g: RunGraph, out: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """Predict with the package in a child process; (imported distributions, result with max differences).

    A second pass on half the test rows separates the fixed cost (imports, loading models) from the cost
    per row, for the run-time estimate."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = input_folder(ws, Path(tmp) / "input")
        t0 = time.perf_counter()
        got = _run_probe(out, data_dir, Path(tmp) / "out")
        wall = time.perf_counter() - t0
        diffs = {}
        for rid in g.order:
            diffs[rid] = compare_predictions(pl.read_parquet(Path(tmp) / "out" / f"test_{rid}.parquet"), Run.open(ws, rid).test(),
                                             rid, ws.competition.id)
        half_dir = _half_input(ws, data_dir, Path(tmp) / "half")
        half = _run_probe(out, half_dir, Path(tmp) / "out-half")["result"] if half_dir is not None else None
    result = got["result"]
    result.update(max_abs_diff=diffs, process_seconds=round(wall, 3))
    if half is not None:
        result["half"] = {"rows": half["rows"], "total_seconds": half["total_seconds"]}
    return got["imported"], result


def time_budget(probe: dict[str, Any], *, test_rows: int | None, limit_hours: float) -> dict[str, Any]:
    """The notebook's predicted run time for ``test_rows`` rows and whether it fits ``limit_hours``.

    The probe timed the prediction on all test rows and (``half``) on half of them: the difference is the
    cost per row, the rest the fixed cost (imports, loading every fold's models). Without a half pass, or
    when the difference is within the timing noise, the whole time is scaled by rows, which errs long.

    >>> p = {"rows": 2000, "total_seconds": 6.0, "process_seconds": 7.0, "half": {"rows": 1000, "total_seconds": 4.0}}
    >>> b = time_budget(p, test_rows=1_000_000, limit_hours=9)
    >>> b["seconds_per_1000_rows"], b["fixed_seconds"], b["predicted_seconds"], b["fits"]
    (2.0, 3.0, 2003.0, True)
    """
    rows = max(int(probe.get("rows") or 0), 1)
    total = float(probe.get("total_seconds") or 0.0)
    overhead = max(float(probe.get("process_seconds") or total) - total, 0.0)  # interpreter start and imports
    half = probe.get("half") or {}
    diff = total - float(half.get("total_seconds") or total)
    if half.get("rows") and rows > half["rows"] and diff > 0.05 * total:
        method, per_row = "two-point", diff / (rows - half["rows"])
        fixed = max(total - per_row * rows, 0.0) + overhead
    else:  # the per-row cost is lost in the noise of a small test set: scale the whole time (errs long)
        method, per_row, fixed = "scaled", total / rows, overhead
    n = int(test_rows) if test_rows else rows
    predicted = fixed + per_row * n
    out = {"device": probe.get("device", "cpu"), "method": method, "measured_rows": rows, "seconds_per_1000_rows": round(per_row * 1000, 4),
           "fixed_seconds": round(fixed, 1), "test_rows": n, "predicted_seconds": round(predicted, 1), "limit_hours": limit_hours,
           "fits": predicted <= limit_hours * 3600}
    if not out["fits"]:
        out["warning"] = (f"predicted notebook time {predicted / 3600:.1f} h for {n:,} rows exceeds the {limit_hours:g} h limit "
                          "(use fewer folds or seeds at inference, a GPU notebook, or a full-data refit)")
    return out


def build_package(ws, run_ids: list[str], out: Path, *, slug: str | None = None, force: bool = False, wheels: bool = True,
                  target=None, skip: set[str] | None = None, kernel: str | None = None, gpu: bool = False,
                  test_rows: int | None = None, limit_hours: float = 9.0, size_limit: int | None = None) -> dict[str, Any]:
    """Write the package folder for ``run_ids`` and their graph; predict once with it (measuring imports and
    time) and check it reproduces every run's test predictions.

    Wheels are for ``target`` (a :class:`~medalist.kaggle.package.wheels.Target`; Kaggle's image by default),
    without the distributions in ``skip`` (the image's big libraries by default). ``wheels=False`` ships no
    wheels (tests). The notebook and its ``kernel-metadata.json`` go to ``OUT/kernel/``.
    """
    from medalist.kaggle.api import kaggle_settings
    from medalist.kaggle.bundle import assert_no_secrets
    from medalist.kaggle.package.deps import closure, runtime_deps, source_root, write_wheels
    from medalist.kaggle.package.kernel import write_kernel
    from medalist.kaggle.package.wheels import KAGGLE_DATASET_LIMIT, KAGGLE_TARGET, check_size

    g = collect_graph(ws, list(run_ids))
    out = Path(out)
    _empty_folder(out, force=force)
    target = target or KAGGLE_TARGET
    try:
        settings = kaggle_settings(ws)
        comp_slug = settings.competition if settings else ws.competition.name
        dataset, title = _dataset_meta(ws, list(run_ids), out, slug, comp_slug)
        tables = _copy_graph(ws, g, out)
        manifest = {"format": FORMAT, "competition": comp_slug, "dataset": dataset, "runs": list(run_ids), "order": g.order,
                    "graph": {k: g.nodes[k].as_dict() for k in g.order}, "tables": tables, "workspace": _workspace_manifest(ws)}
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        (out / "inference.py").write_text(inference_script(title, list(run_ids), comp_slug))
        imported, probe = _probe(ws, g, out)
        shipped: dict[str, Any] = {"pins": [], "shipped": [], "skipped": [], "bytes": 0}
        if wheels:
            src = source_root()
            shipped = write_wheels(runtime_deps(imported, src, [g.nodes[r].model or "" for r in g.order]), src, out,
                                   target=target, skip=skip)
        manifest.update(target={"python": target.python_version, "platforms": list(target.platforms), "abi": target.abi},
                        preinstalled=closure([p.split("==")[0] for p in shipped["skipped"]]),
                        budget=time_budget(probe, test_rows=test_rows, limit_hours=limit_hours))
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        kern = write_kernel(out, dataset=dataset, competition=comp_slug, kernel=kernel, title=title, gpu=gpu, runs=list(run_ids))
        assert_no_secrets([p for p in out.rglob("*") if p.is_file() and p.suffix != ".whl"], "package")
        size = check_size(out, size_limit or KAGGLE_DATASET_LIMIT)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # nothing half-written
        raise
    return {"path": str(out), "dataset": dataset, "kernel": kern["kernel"], "runs": list(run_ids), "order": g.order,
            "requirements": shipped["pins"], "wheels": sorted(p.name for p in (out / "wheels").glob("*.whl")),
            "preinstalled": manifest["preinstalled"], "target": manifest["target"], "bytes": size,
            "contents": _contents(out), "budget": manifest["budget"], "probe": probe}


def _contents(out: Path) -> dict[str, int]:
    """Bytes per top-level part of the package (runs, wheels, kernel, …)."""
    sizes: dict[str, int] = {}
    for p in out.rglob("*"):
        if p.is_file():
            top = p.relative_to(out).parts[0]
            sizes[top] = sizes.get(top, 0) + p.stat().st_size
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))
