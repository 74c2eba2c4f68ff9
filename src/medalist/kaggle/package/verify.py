"""``medalist package --verify``: run a package's ``inference.py`` the way Kaggle will, offline, and check it.

:func:`verify_package` stages the package read-only (Kaggle's /kaggle/input is), makes a clean venv
(:func:`clean_env`: no index, no medalist, only the distributions the package's ``package.json`` lists as
preinstalled), lets ``inference.py`` install its wheels and predicts twice:

* on the workspace's own data: each run's ``test_<id>.parquet`` must equal the run's ``test.parquet`` (max abs
  difference 1e-6, same ids), the submission must match the sample submission, and for a local competition its
  public/private scores must equal those of ``medalist submit --local`` for the same predictions;
* on unseen rows (:func:`medalist.kaggle.package.inputs.unseen_input`: a shuffled 60-80% subsample re-keyed with
  new ids, or the caller's ``test_file``): it must run, write exactly the new ids in the sample's order with
  finite predictions, and, when the runs' features are row-wise, predict each row as the run did.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import polars as pl
import yaml

from medalist.core.errors import ConfigError, MedalistError
from medalist.kaggle.package.cleanenv import (
    _canon,
    clean_env,
    offline_environ,
    run_logged,
    stderr_tail,
    work_folder,
)
from medalist.kaggle.package.build import TOLERANCE
from medalist.kaggle.package.inputs import PredictionMismatch, copy_input, prediction_diff, unseen_input
from medalist.kaggle.package.runtime import PackageError, mean_predictions
from medalist.kaggle.submit import build_submission, score_local, validate_submission
from medalist.metrics.registry import get_metric
from medalist.runs.store import Run
from medalist.workspace.data import read_table

__all__ = ["clean_env", "verify_package", "TOLERANCE"]

_TIMEOUT = 1800.0

_INSTALL = r"""
import importlib.metadata as md, json, runpy, sys
ns = runpy.run_path(sys.argv[1], run_name="medalist_verify")
if "install" in ns:
    ns["install"]()
out = {}
for name in json.loads(sys.argv[2]):
    try:
        out[name] = md.version(name)
    except md.PackageNotFoundError:
        out[name] = None
try:
    import medalist
    where = medalist.__file__
except ImportError:
    where = None
print(json.dumps({"installed": out, "medalist": where, "install": "install" in ns}))
"""


class _Frame:
    """What build_submission needs of a run: a record and test predictions."""

    def __init__(self, record, test: pl.DataFrame) -> None:
        self.record, self._test = record, test

    def test(self) -> pl.DataFrame:
        return self._test


def _fail(check: str, run: str | None, expected: str, found: str, stderr: str = "", fix: str | None = None) -> PackageError:
    tail = stderr_tail(stderr, 8)
    where = f"package check '{check}'" + (f", run '{run}'" if run else "")
    return PackageError(where, expected=expected, found=found + (f"\ninference stderr (tail):\n{tail}" if tail else ""), fix=fix)


def _manifest(pkg: Path) -> dict[str, Any]:
    """The package's runs: ``roots`` (averaged into the submission), ``order`` (every run inference predicts, each
    writing test_<id>.parquet), ``graph`` (per run, what it predicts from) and ``preinstalled`` (package.json's)."""
    man = json.loads((pkg / "package.json").read_text()) if (pkg / "package.json").is_file() else {}
    if "runs" not in man:  # packages before package.json carried their runs in competition.json
        if not (pkg / "competition.json").is_file():
            raise PackageError(str(pkg), expected="a package folder (package.json, inference.py, runs/, wheels/)",
                               found="no package.json with its runs", fix="pass the OUT folder `medalist package` wrote")
        man = {**man, "runs": json.loads((pkg / "competition.json").read_text())["runs"]}
    roots = list(man["runs"])
    return {"roots": roots, "order": list(man.get("order") or roots), "graph": man.get("graph") or {},
            "preinstalled": list(man.get("preinstalled") or []), "target": man.get("target") or {}}


def _check_target(target: dict) -> None:
    """The package's wheels must be for this interpreter: the clean venv is made from it."""
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    want = str(target.get("python") or here)
    if want != here:
        plat = (target.get("platforms") or ["?"])[0]
        raise PackageError("package check 'target'", expected=f"wheels for this Python {here} (the clean venv is made from it)",
                           found=f"a package for Python {want} ({target.get('abi', '?')} {plat})",
                           fix=f"verify a copy built for this machine (`medalist package … --python {here}`) or verify with Python {want}")


def _stage(pkg: Path, dst: Path) -> Path:
    """Copy the package to ``dst`` and make it read-only, as Kaggle mounts datasets."""
    shutil.copytree(pkg, dst, symlinks=False)
    for root, dirs, files in os.walk(dst):
        for f in files:
            os.chmod(os.path.join(root, f), 0o444)
        os.chmod(root, 0o555)
    return dst


def _writable(root: Path) -> None:
    for r, dirs, _ in os.walk(root):
        os.chmod(r, os.stat(r).st_mode | stat.S_IWUSR | stat.S_IXUSR | stat.S_IRUSR)


def _wheels(pkg: Path) -> dict[str, str]:
    out = {}
    for whl in sorted((pkg / "wheels").glob("*.whl")):
        parts = whl.name[:-4].split("-")
        out[_canon(parts[0])] = parts[1]
    return out


def _pins(pkg: Path) -> dict[str, str]:
    req = pkg / "requirements.txt"
    lines = req.read_text().splitlines() if req.is_file() else []
    return {_canon(ln.split("==")[0]): ln.split("==")[1].strip() for ln in lines if "==" in ln and not ln.startswith("#")}


def _install(py: Path, staged: Path, env: dict, cwd: Path, preinstalled: list[str]) -> float:
    """Run inference.py's own install step; check every wheel and requirement is then installed; seconds."""
    wheels, pins = _wheels(staged), _pins(staged)
    names = sorted({*wheels, *pins, "medalist"})
    res, secs = run_logged([str(py), "-c", _INSTALL, str(staged / "inference.py"), json.dumps(names)], env=env, cwd=cwd, timeout=_TIMEOUT)
    if res.returncode != 0:
        raise _fail("install", None, "inference.py's offline install (pip --no-index) to succeed", f"exit code {res.returncode}",
                    res.stderr or res.stdout, fix="rebuild the package: a wheel is missing or does not fit this Python")
    got = json.loads(res.stdout.strip().splitlines()[-1])
    have = got["installed"]
    pre = {_canon(p) for p in preinstalled}
    for name in names:
        want = wheels.get(name)
        if have.get(name) is None:
            how = "no wheel in wheels/ and package.json does not list it as preinstalled" if name not in pre else "preinstalled but absent"
            raise _fail("install", None, f"distribution '{name}' installed offline (requirements.txt: {name}=={pins.get(name, '?')})",
                        f"it is missing after the install: {how}", res.stderr,
                        fix=f"rebuild the package so wheels/ holds {name}'s wheel, or list it in package.json's preinstalled")
        if want is not None and have[name] != want:
            raise _fail("install", None, f"'{name}' {want} (its wheel in wheels/)", f"version {have[name]} after the install", res.stderr)
    env_dir = py.parent.parent
    if not got["medalist"] or not Path(got["medalist"]).resolve().is_relative_to(env_dir.resolve()):
        raise _fail("install", None, f"medalist imported from the clean venv {env_dir}", f"{got['medalist']}", res.stderr)
    return secs


def _infer(py: Path, staged: Path, input_dir: Path, out_dir: Path, env: dict, check: str) -> tuple[float, str]:
    out_dir.mkdir(parents=True)
    res, secs = run_logged([str(py), str(staged / "inference.py"), "--input", str(input_dir), "--out", str(out_dir / "submission.csv")],
                           env=env, cwd=out_dir, timeout=_TIMEOUT)
    if res.returncode != 0:
        raise _fail(check, None, "inference.py to run offline", f"exit code {res.returncode}", res.stderr or res.stdout)
    if not (out_dir / "submission.csv").is_file():
        raise _fail(check, None, f"{out_dir / 'submission.csv'}", "no such file", res.stderr)
    return secs, res.stderr


def _compare(check: str, rid: str, got: pl.DataFrame, want: pl.DataFrame, id_col: str, stderr: str) -> float:
    """Max abs difference of ``got`` and ``want`` (same ids, same prediction columns); raises above TOLERANCE."""
    try:
        worst, row, col = prediction_diff(got, want, id_col)
    except PredictionMismatch as e:
        raise _fail(check, rid, e.expected, e.found, stderr) from None
    if worst > TOLERANCE:
        raise _fail(check, rid, f"the run's test predictions (max abs difference <= {TOLERANCE:g})",
                    f"max abs difference {worst:.6g} at {id_col}={row!r} (column {col})", stderr,
                    fix="re-run the run or rebuild the package; the packaged models no longer give the run's predictions")
    return worst


def _read_sub(path: Path, sample: pl.DataFrame, id_col: str) -> pl.DataFrame:
    sub = read_table(path, what="packaged submission")
    if id_col in sub.columns:
        sub = sub.with_columns(pl.col(id_col).cast(sample.schema[id_col], strict=False))
    return sub


def _check_seen(ws, man: dict, runs: dict[str, Run], out: Path, stderr: str, checks: list[str]) -> dict[str, Any]:
    comp = ws.competition
    for r in (runs[rid] for rid in man["order"]):
        _compare("seen rows: test predictions", r.id, pl.read_parquet(out / f"test_{r.id}.parquet"), r.test(), comp.id, stderr)
    checks.append("seen rows: each run's test predictions equal its test.parquet")
    sample = read_table(ws.sample_submission_path, what="sample submission")
    sub = _read_sub(out / "submission.csv", sample, comp.id)
    metric = get_metric(comp.metric)
    try:
        validate_submission(sub, sample, id_col=comp.id, task=comp.task, metric=metric, file="packaged submission.csv")
    except MedalistError as e:
        raise _fail("seen rows: submission schema", None, "a submission like the sample submission", str(e), stderr) from None
    checks.append("seen rows: submission.csv matches the sample submission")
    if ws.answers_path is None or not Path(ws.answers_path).is_file():
        return {}
    got = score_local(ws, sub)
    roots = [runs[rid] for rid in man["roots"]]
    want = score_local(ws, build_submission(ws, _Frame(roots[0].record, mean_predictions([r.test() for r in roots], comp.id))))
    for k in ("public", "private"):
        if not np.isclose(got[k], want[k], rtol=0, atol=1e-9):
            raise _fail("seen rows: local score", ",".join(man["roots"]), f"{k} score {want[k]!r} (submit --local)",
                        f"{got[k]!r}", stderr)
    checks.append("seen rows: local public/private scores equal submit --local's")
    return {"seen": got, "expected": want}


def _row_wise(rid: str, runs: dict[str, Run], graph: dict, seen: tuple[str, ...] = ()) -> bool:
    """Whether the run predicts each row from that row alone: no feature blocks (they see the whole test set), and
    so do the runs it predicts from (graph, members). Then unseen rows must predict as they did in the workspace."""
    run = runs.get(rid)
    if run is None or rid in seen:
        return False
    path = run.path / "config.yaml"
    cfg = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}
    ups = [*(graph.get(rid, {}).get("predict_from") or []), *(getattr(run.record, "members", None) or [])]
    return not cfg.get("features") and all(_row_wise(u, runs, graph, (*seen, rid)) for u in ups)


def _check_unseen(ws, man: dict, runs: dict[str, Run], unseen, out: Path, stderr: str, checks: list[str]) -> dict[str, Any]:
    comp = ws.competition
    sample = read_table(unseen.dir / ws.sample_submission_path.name, what="unseen sample submission")
    new_ids = sample[comp.id].cast(pl.String)
    report: dict[str, Any] = {"max_abs_diff_vs_workspace": {}}
    for r in (runs[rid] for rid in man["order"]):
        got = pl.read_parquet(out / f"test_{r.id}.parquet")
        ids = got[comp.id].cast(pl.String) if comp.id in got.columns else None
        if ids is None or ids.to_list() != new_ids.to_list():
            raise _fail("unseen rows: ids", r.id, f"the {len(new_ids)} new ids in the test file's order", "other ids or another order "
                        f"(first: {None if ids is None else ids.head(3).to_list()} vs {new_ids.head(3).to_list()})", stderr,
                        fix="predict the rows of the test file given, never stored predictions by id or position")
        vals = got.drop(comp.id).cast(pl.Float64).to_numpy()
        if not np.isfinite(vals).all():
            bad = int((~np.isfinite(vals)).any(axis=1).argmax())
            raise _fail("unseen rows: finite predictions", r.id, "finite predictions", f"NaN/inf at {comp.id}={ids[bad]!r}", stderr)
        if unseen.ids is not None and _row_wise(r.id, runs, man["graph"]):
            key = unseen.ids.with_columns(pl.col("new").cast(pl.String), pl.col("old").cast(pl.String))
            want = (key.join(r.test().with_columns(pl.col(comp.id).cast(pl.String)), left_on="old", right_on=comp.id, how="left",
                             maintain_order="left").drop("old").rename({"new": comp.id}))
            report["max_abs_diff_vs_workspace"][r.id] = _compare("unseen rows: same rows predict the same", r.id,
                                                                 got.with_columns(pl.col(comp.id).cast(pl.String)), want, comp.id, stderr)
    checks.append("unseen rows: new ids in the sample's order, finite predictions")
    if report["max_abs_diff_vs_workspace"]:
        checks.append("unseen rows: each row predicted as in the workspace (row-wise features)")
    sub = _read_sub(out / "submission.csv", sample, comp.id)
    try:
        validate_submission(sub, sample, id_col=comp.id, task=comp.task, metric=get_metric(comp.metric), file="unseen submission.csv")
    except MedalistError as e:
        raise _fail("unseen rows: submission schema", None, "a submission like the unseen sample submission", str(e), stderr) from None
    checks.append("unseen rows: submission.csv matches the unseen sample submission")
    if unseen.answers is not None:
        like = SimpleNamespace(competition=comp, answers_path=unseen.answers, train_path=ws.train_path)
        report["scores"] = score_local(like, sub)
    return report


def _given_test(ws, test_file: Path, dst: Path):
    """An input folder for a caller's test file: the workspace's data, that test file and a sample submission with its ids
    (each value column filled with the original sample's first value)."""
    comp = ws.competition
    test = read_table(Path(test_file), what="test file")
    if comp.id not in test.columns:
        raise ConfigError(f"test file {test_file}", expected=f"the id column '{comp.id}'", found=f"columns {test.columns[:8]}")
    copy_input(ws, dst, skip=(ws.test_path.name, ws.sample_submission_path.name))
    if Path(test_file).suffix == ws.test_path.suffix:
        shutil.copy2(test_file, dst / ws.test_path.name)
    elif ws.test_path.suffix == ".parquet":
        test.write_parquet(dst / ws.test_path.name)
    else:
        test.write_csv(dst / ws.test_path.name)
    sample = read_table(ws.sample_submission_path, what="sample submission")
    row = sample.drop(comp.id).head(1)
    new = pl.concat([test.select(comp.id).cast({comp.id: sample.schema[comp.id]}, strict=False),
                     pl.concat([row] * test.height) if test.height else row.clear()], how="horizontal")
    new.select(sample.columns).write_csv(dst / ws.sample_submission_path.name)
    return SimpleNamespace(dir=dst, ids=None, answers=None, rows=test.height)


def verify_package(ws, pkg: Path, *, test_file: Path | None = None, work: Path | None = None,
                   seed: int | None = None) -> dict[str, Any]:
    """Install ``pkg`` in a clean offline venv and check its inference on seen and unseen rows (see the module doc).

    Writes only under ``work`` (a new or empty folder, kept; default a temporary folder, removed). Raises
    PackageError naming the failed check, the run, the largest difference with its row id and inference's stderr tail.
    Returns ``{"package", "runs", "order", "preinstalled", "checks", "timings": {"venv_s", "install_s", "inference_s":
    {"seen", "unseen"}}, "rows": {"seen", "unseen"}, "scores": {"seen", "expected", "unseen"}, "unseen", "summary", "work"}``
    (scores only for a local competition). The unseen rows are drawn with ``seed`` (default: a random one, reported
    as ``unseen.seed``; :func:`medalist.kaggle.package.inputs.unseen_input` rebuilds them).
    """
    pkg = Path(pkg).resolve()
    man = _manifest(pkg)
    runs = {rid: Run.open(ws, rid) for rid in man["order"]}
    work, keep = work_folder(work, "medalist-verify-")
    try:
        return _verify(ws, pkg, man, runs, Path(work), test_file, seed) | {"work": str(work) if keep else None}
    finally:
        _writable(work)
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


# models that read a file per row, found by its id: unseen rows keep their ids (the files are named by them)
_FILE_MODELS = {"timm_image", "segmentation", "detection", "signal"}


def _verify(ws, pkg: Path, man: dict, runs: dict[str, Run], work: Path, test_file: Path | None, seed: int | None) -> dict[str, Any]:
    import time

    _check_target(man["target"])
    t0 = time.perf_counter()
    py = clean_env(work / "env", preinstalled=man["preinstalled"])
    venv_s = time.perf_counter() - t0
    env = offline_environ(work, py.parent.parent)
    staged = _stage(pkg, work / "kaggle" / "input" / pkg.name)
    checks: list[str] = []
    install_s = _install(py, staged, env, work / "tmp", man["preinstalled"])
    checks.append("install: every wheel and requirement installed offline; medalist from the package's wheel")
    seen_dir = copy_input(ws, work / "kaggle" / "input" / "seen")
    seen_s, err = _infer(py, staged, seen_dir, work / "working" / "seen", env, "seen rows: inference")
    scores = _check_seen(ws, man, runs, work / "working" / "seen", err, checks)
    if test_file is not None:
        unseen, seed = _given_test(ws, Path(test_file), work / "kaggle" / "input" / "unseen"), None
    else:
        seed = int.from_bytes(os.urandom(4), "little") if seed is None else seed
        files_by_id = any(str(n.get("model") or "").split(":")[0] in _FILE_MODELS for n in man["graph"].values())
        unseen = unseen_input(ws, work / "kaggle" / "input" / "unseen", seed=seed, rekey=not files_by_id)
    unseen_s, err = _infer(py, staged, unseen.dir, work / "working" / "unseen", env, "unseen rows: inference")
    rep = _check_unseen(ws, man, runs, unseen, work / "working" / "unseen", err, checks)
    if "scores" in rep:
        scores["unseen"] = rep.pop("scores")
    rep["seed"] = seed
    rows = {"seen": runs[man["roots"][0]].test().height, "unseen": unseen.rows}
    timings = {"venv_s": round(venv_s, 3), "install_s": round(install_s, 3),
               "inference_s": {"seen": round(seen_s, 3), "unseen": round(unseen_s, 3)}}
    return {"package": str(pkg), "runs": man["roots"], "order": man["order"], "preinstalled": man["preinstalled"], "checks": checks,
            "timings": timings, "rows": rows, "scores": scores, "unseen": rep, "python": sys.version.split()[0],
            "summary": _summary(checks, timings, rows, scores)}


def _summary(checks: list[str], timings: dict, rows: dict, scores: dict) -> str:
    inf = timings["inference_s"]
    out = (f"{len(checks)} checks passed; venv {timings['venv_s']:.1f} s, install {timings['install_s']:.1f} s, inference "
           f"{inf['seen']:.1f} s on {rows['seen']:,} seen rows and {inf['unseen']:.1f} s on {rows['unseen']:,} unseen rows")
    if "seen" in scores:
        out += f"; local public/private {scores['seen']['public']:.5f}/{scores['seen']['private']:.5f} (= submit --local)"
    if "unseen" in scores:
        out += f", unseen rows {scores['unseen']['public']:.5f}/{scores['unseen']['private']:.5f}"
    return out
