"""Offline inference packages for code competitions (no internet in the inference notebook).

``medalist package RUN… OUT/`` writes a Kaggle-dataset folder::

    OUT/dataset-metadata.json   Kaggle dataset id/title (``--push`` creates or versions it)
    OUT/inference.py            installs the wheels with pip --no-index, predicts, writes submission.csv
    OUT/requirements.txt        the pinned runtime dependencies (what inference really imports)
    OUT/wheels/*.whl            the medalist wheel and one wheel per runtime dependency
    OUT/competition.json        the competition (id, target, task, metric, file names)
    OUT/runs/<id>/              config.yaml, run.json, metrics.json and the fitted models/

The dependency set is measured, not guessed: the package's prediction is run once at build time in
a child process, the distributions it imported become the requirements, and its predictions must
equal the run's ``test.parquet`` (else the build fails). On Kaggle:
``!python /kaggle/input/<dataset>/inference.py`` (``--input DIR`` when the data is elsewhere).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import polars as pl
import yaml

from medalist.core.errors import ConfigError, MedalistError, RunError
from medalist.runs.record import RunRecord
from medalist.runs.store import Run

__all__ = ["build_package", "predict_package", "run_test_predictions", "PackageError"]

# distributions never shipped: the standard library shim names and build tooling
_SKIP = {"pip", "setuptools", "wheel", "medalist", "_distutils_hack", "pkg_resources"}


class PackageError(MedalistError):
    """A package cannot be built or used."""


# ----------------------------------------------------------------------------- prediction (runs offline too)
def _experiment(run_dir: Path):
    from medalist.core.config import ExperimentConfig

    full = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    exp = {k: v for k, v in full.items() if k != "competition"}
    return ExperimentConfig.model_validate(exp)


def _model_dirs(run_dir: Path) -> tuple[list[tuple[int, int]], bool]:
    names = [p.name for p in (run_dir / "models").iterdir() if p.is_dir()] if (run_dir / "models").is_dir() else []
    splits = sorted({(int(m[1]), int(m[2])) for n in names if (m := re.match(r"^r(\d+)_f(\d+)_s-?\d+$", n))})
    full = any(re.match(r"^full_s-?\d+$", n) for n in names)
    return splits, full


def check_packable(run: Run) -> None:
    """Raise when the run cannot be predicted offline from its saved models."""
    exp = _experiment(run.path)
    if exp.model_selection_by is not None:
        raise PackageError(f"run '{run.id}'", expected="a run without model_selection_by", found="two models chosen per row",
                           fix="package a run without model_selection_by")
    splits, full = _model_dirs(run.path)
    if not (full if run.record.full_fit else splits):
        raise PackageError(f"run '{run.id}'", expected="fitted models under models/", found="none",
                           fix="re-run it; models are saved per fold")


def run_test_predictions(run_dir: Path, ws_like) -> np.ndarray:
    """The run's test prediction from its saved models, in the runner's exact order of operations."""
    from medalist.features import apply_static, build_plan
    from medalist.models import load_model
    from medalist.workspace.data import load_competition_data

    exp = _experiment(run_dir)
    info = RunRecord.load(run_dir / "run.json")
    data = load_competition_data(ws_like, exp.columns, weight=exp.weight)
    plan = build_plan(exp.features, data, source=str(run_dir / "config.yaml"), ws=None, folds_hash=None)
    if plan.per_fold:
        raise PackageError(f"run '{run_dir.name}'", expected="static features only", found="per-fold feature blocks (target encoding)",
                           fix="package a run without per-fold blocks")
    data = apply_static(plan, data)
    te = data.test
    splits, _ = _model_dirs(run_dir)
    seeds = list(exp.seeds)
    if info.full_fit:
        pred = None
        for seed in seeds:
            p = load_model(run_dir / "models" / f"full_s{seed}").predict(te) / len(seeds)
            pred = p if pred is None else pred + p
        return pred
    width = data.n_classes if data.task == "multiclass" else len(data.target) if data.task == "multilabel" else 0
    total = np.zeros((te.height, width) if width else (te.height,))
    for r, f in splits:
        pt = np.zeros_like(total)
        for seed in seeds:
            pt += load_model(run_dir / "models" / f"r{r}_f{f}_s{seed}").predict(te) / len(seeds)
        total += pt / len(splits)
    return total


def _ws_like(competition: dict[str, Any], input_dir: Path):
    from medalist.core.config import CompetitionConfig

    comp = CompetitionConfig.model_validate(competition)
    d = comp.data
    return SimpleNamespace(
        competition=comp, root=input_dir, train_path=input_dir / Path(d.train).name, test_path=input_dir / Path(d.test).name,
        sample_submission_path=input_dir / Path(d.sample_submission).name,
    )


class _PackagedRun:
    """What build_submission needs of a run: its record and test predictions."""

    def __init__(self, record: RunRecord, test: pl.DataFrame) -> None:
        self.record, self._test = record, test

    def test(self) -> pl.DataFrame:
        return self._test


def predict_package(pkg: Path, input_dir: Path, out: Path) -> dict[str, Any]:
    """Predict with every run of the package (equal-weight mean when several), write and validate submission.csv.

    Also writes ``test_<run>.parquet`` (each run's raw test predictions) next to ``out``.
    """
    from medalist.kaggle.submit import build_submission, validate_submission
    from medalist.metrics.library import get_metric

    pkg, input_dir, out = Path(pkg), Path(input_dir), Path(out)
    manifest = json.loads((pkg / "competition.json").read_text())
    ws = _ws_like(manifest["competition"], input_dir)
    for p in (ws.train_path, ws.test_path, ws.sample_submission_path):
        if not p.is_file():
            raise PackageError(str(p), expected="the competition's file", found="no such file", fix="pass --input DIR (the competition data folder)")
    frames = []
    info = None
    for rid in manifest["runs"]:
        run_dir = pkg / "runs" / rid
        info = RunRecord.load(run_dir / "run.json")
        pred = run_test_predictions(run_dir, ws)
        from medalist.workspace.data import read_table

        ids = read_table(ws.test_path, what="test", columns=[ws.competition.id]).get_column(ws.competition.id)
        cols = info.pred_columns
        p2 = pred.reshape(len(pred), -1)
        frame = pl.DataFrame({ids.name: ids, **{c: p2[:, i] for i, c in enumerate(cols)}})
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(out.parent / f"test_{rid}.parquet")
        frames.append(frame)
    test = frames[0]
    if len(frames) > 1:
        cols = [c for c in test.columns if c != ws.competition.id]
        mean = sum(f.select(cols).to_numpy() for f in frames) / len(frames)
        test = test.with_columns([pl.Series(c, mean[:, i]) for i, c in enumerate(cols)])
    sub = build_submission(ws, _PackagedRun(info, test))
    from medalist.workspace.data import read_table

    sample = read_table(ws.sample_submission_path, what="sample submission")
    validate_submission(sub, sample, id_col=ws.competition.id, task=ws.competition.task,
                        metric=get_metric(ws.competition.metric), file=str(out))
    sub.write_csv(out)
    return {"submission": str(out), "rows": sub.height, "runs": manifest["runs"]}


# ----------------------------------------------------------------------------- build
_INFERENCE = '''"""Offline inference for {title} (written by `medalist package`).

Installs the wheels next to this file with pip --no-index (no internet needed), predicts the test
set with the packaged runs ({runs}) and writes submission.csv.

    python inference.py [--input DIR] [--out submission.csv]
"""
import argparse
import importlib
import importlib.metadata as md
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SLUG = {slug!r}


def _name(whl):
    parts = whl.name[:-4].split("-")
    return parts[0].replace("_", "-").lower(), parts[1]


def install():
    todo = []
    for whl in sorted((HERE / "wheels").glob("*.whl")):
        name, version = _name(whl)
        try:
            if md.version(name) == version:
                continue
        except md.PackageNotFoundError:
            pass
        todo.append(str(whl))
    if todo:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--disable-pip-version-check",
                               "--no-warn-script-location", "--quiet", *todo])
        importlib.invalidate_caches()


def default_input():
    for d in (os.environ.get("MEDALIST_INPUT"), f"/kaggle/input/{{SLUG}}", f"/kaggle/input/competitions/{{SLUG}}"):
        if d and Path(d).is_dir():
            return Path(d)
    return Path.cwd()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", type=Path, default=None, help="competition data folder")
    ap.add_argument("--out", type=Path, default=Path("/kaggle/working/submission.csv") if Path("/kaggle/working").is_dir() else Path("submission.csv"))
    args = ap.parse_args()
    install()
    from medalist.kaggle.package import predict_package

    res = predict_package(HERE, args.input or default_input(), args.out)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
'''


def _source_root() -> Path:
    import medalist

    here = Path(medalist.__file__).resolve().parent
    for d in here.parents:
        if (d / "pyproject.toml").is_file() and (d / "src" / "medalist").is_dir():
            return d
    raise PackageError("medalist wheel", expected="medalist installed from its source tree (pip install -e .)",
                       found=f"an installed copy at {here}", fix="install medalist from source to package it")


def _copy_build_inputs(src: Path, dst: Path) -> None:
    """Copy only what building the wheel reads: pyproject.toml, the readme/licence files it names and src/.

    Never the whole checkout: a virtual environment, a demo workspace or run folders beside pyproject.toml
    can be gigabytes (CI keeps its .venv there)."""
    dst.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "MANIFEST.in", "setup.cfg"):
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
    for lic in src.glob("LICEN[CS]E*"):
        if lic.is_file():
            shutil.copy2(lic, dst / lic.name)
    shutil.copytree(src / "src", dst / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "*.pyc"))


def _pip(args: list[str], what: str) -> None:
    res = subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--quiet"],
                         capture_output=True, text=True)
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        raise PackageError(what, expected="pip to succeed", found=" | ".join(tail)[:500],
                           fix="check that pip can reach its index or cache at build time")


_PROBE = """
import json, sys, importlib.metadata as md
from pathlib import Path
from medalist.kaggle.package import predict_package
before = set(sys.modules)
res = predict_package(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
tops = {m.split('.')[0] for m in sys.modules}
dists = md.packages_distributions()
out = {}
for t in sorted(tops):
    for d in dists.get(t, []):
        out[d] = md.version(d)
print(json.dumps(out))
"""


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# model families -> the distributions they need beyond medalist's base dependencies
_MODEL_DISTS = {"lightgbm": ["lightgbm"], "xgboost": ["xgboost"], "catboost": ["catboost"],
                "timm_image": ["torch", "torchvision", "timm"]}


def _runtime_deps(imported: dict[str, str], src: Path, runs: list[Run]) -> dict[str, str]:
    """The imported distributions that inference needs: the closure of medalist's base dependencies and the
    runs' model libraries over their declared (non-extra) requirements, restricted to what was imported.

    Libraries imported only because they happen to be installed (optional integrations such as torch or
    pytest pulled in by a helper library) are not shipped.
    """
    import tomllib
    from importlib import metadata as md

    try:
        from packaging.requirements import Requirement
    except ImportError:  # pragma: no cover
        from pip._vendor.packaging.requirements import Requirement

    project = tomllib.loads((src / "pyproject.toml").read_text())["project"]
    roots = [Requirement(r).name for r in project.get("dependencies", [])]
    for r in runs:
        family = str(r.record.model or "").split(":")[0]
        roots += _MODEL_DISTS.get(family, [])
    have = {_canon(d): d for d in imported}
    keep: set[str] = set()
    todo = [_canon(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in keep or name not in have:
            continue
        keep.add(name)
        for req in md.requires(have[name]) or []:
            rq = Requirement(req)
            if rq.marker is not None and not rq.marker.evaluate({"extra": ""}):
                continue
            todo.append(_canon(rq.name))
    return {have[n]: imported[have[n]] for n in sorted(keep) if n not in _SKIP}


def build_package(ws, run_ids: list[str], out: Path, *, slug: str | None = None, force: bool = False) -> dict[str, Any]:
    """Write the package folder; predict once with it (measuring its imports) and check it reproduces the runs."""
    from medalist.kaggle.api import kaggle_settings

    if not run_ids:
        raise RunError("medalist package", expected="one or more RUN ids", found="none")
    runs = [Run.open(ws, r) for r in run_ids]
    for r in runs:
        r._require_done("test.parquet")
        check_packable(r)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not force:
            raise ConfigError(str(out), expected="a new or empty folder", found="files", fix="choose another OUT or pass --force")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    settings = kaggle_settings(ws)
    comp_slug = settings.competition if settings else ws.competition.name
    user = os.environ.get("KAGGLE_USERNAME") or "USERNAME"
    dataset = slug or f"{user}/medalist-{re.sub(r'[^a-z0-9-]+', '-', runs[0].id.lower())}"
    if dataset.count("/") != 1:
        raise ConfigError("--slug", expected="USER/DATASET", found=repr(dataset))
    title = f"medalist {comp_slug} {' '.join(run_ids)}"[:50]
    meta = {"title": title, "id": dataset, "licenses": [{"name": "CC0-1.0"}]}
    (out / "dataset-metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    comp = ws.competition.model_dump(mode="json")
    comp["answers"] = None
    (out / "competition.json").write_text(json.dumps({"competition": comp, "runs": run_ids, "kaggle": comp_slug}, indent=2) + "\n")
    for r in runs:
        dst = out / "runs" / r.id
        dst.mkdir(parents=True)
        for name in ("config.yaml", "run.json", "metrics.json"):
            shutil.copy2(r.path / name, dst / name)
        shutil.copytree(r.path / "models", dst / "models", symlinks=False)
    (out / "inference.py").write_text(_INFERENCE.format(title=title, runs=", ".join(run_ids), slug=comp_slug))
    # measure what inference imports, and check it reproduces the runs' test predictions
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "input"
        data_dir.mkdir()
        for p in (ws.train_path, ws.test_path, ws.sample_submission_path):
            os.symlink(p.resolve(), data_dir / p.name)
        res = subprocess.run([sys.executable, "-c", _PROBE, str(out), str(data_dir), str(Path(tmp) / "submission.csv")],
                             capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        if res.returncode != 0:
            raise PackageError(f"package {out}", expected="inference to run", found=(res.stderr.strip().splitlines() or ["?"])[-1][:400])
        deps = json.loads(res.stdout.strip().splitlines()[-1])
        for r in runs:
            got = pl.read_parquet(Path(tmp) / f"test_{r.id}.parquet")
            if not got.equals(r.test()):
                raise PackageError(f"package of run '{r.id}'", expected="the run's test predictions from its saved models",
                                   found="different predictions", fix="re-run the run with this medalist version")
    src = _source_root()
    deps = _runtime_deps(deps, src, runs)
    wheels = out / "wheels"
    wheels.mkdir()
    with tempfile.TemporaryDirectory() as tmp:  # build from a copy: the source tree stays untouched by build/ and egg-info
        _copy_build_inputs(src, Path(tmp) / "src")
        _pip(["wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(Path(tmp) / "src")], "the medalist wheel")
    pins = [f"{d}=={v}" for d, v in sorted(deps.items())]
    _pip(["download", "--no-deps", "--only-binary=:all:", "-d", str(wheels), *pins], "runtime wheels")
    (out / "requirements.txt").write_text("\n".join(pins) + "\n")
    from medalist.kaggle.bundle import assert_no_secrets

    files = [p for p in out.rglob("*") if p.is_file() and p.suffix != ".whl"]
    assert_no_secrets(files, "package")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"path": str(out), "dataset": dataset, "runs": run_ids, "requirements": pins,
            "wheels": sorted(p.name for p in wheels.glob("*.whl")), "bytes": size}
