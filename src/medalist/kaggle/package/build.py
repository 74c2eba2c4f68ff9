"""The build side of a package: copy the run folders, measure the runtime dependencies, build the wheels.

:func:`build_package` predicts once with the finished folder in a child process (the probe), ships the
distributions that prediction imported, and fails unless it reproduces each run's ``test.parquet``.
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
from typing import Any

import polars as pl

from medalist.core.errors import ConfigError, RunError
from medalist.kaggle.package.notebook import inference_script
from medalist.kaggle.package.runtime import PackageError, check_packable
from medalist.runs.store import Run

__all__ = ["build_package"]

# distributions never shipped: the standard library shim names and build tooling
_SKIP = {"pip", "setuptools", "wheel", "medalist", "_distutils_hack", "pkg_resources"}


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
    _empty_folder(out, force=force)
    settings = kaggle_settings(ws)
    comp_slug = settings.competition if settings else ws.competition.name
    dataset, title = _write_manifests(ws, runs, run_ids, out, slug=slug, comp_slug=comp_slug)
    _copy_runs(runs, out)
    (out / "inference.py").write_text(inference_script(title, run_ids, comp_slug))
    deps = _probe_imports(ws, runs, out)
    src = _source_root()
    pins = _write_wheels(_runtime_deps(deps, src, runs), src, out)
    from medalist.kaggle.bundle import assert_no_secrets

    files = [p for p in out.rglob("*") if p.is_file() and p.suffix != ".whl"]
    assert_no_secrets(files, "package")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"path": str(out), "dataset": dataset, "runs": run_ids, "requirements": pins,
            "wheels": sorted(p.name for p in (out / "wheels").glob("*.whl")), "bytes": size}


def _empty_folder(out: Path, *, force: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not force:
            raise ConfigError(str(out), expected="a new or empty folder", found="files", fix="choose another OUT or pass --force")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def _write_manifests(ws, runs: list[Run], run_ids: list[str], out: Path, *, slug: str | None, comp_slug: str) -> tuple[str, str]:
    """dataset-metadata.json (the Kaggle dataset) and competition.json (what inference reads); (dataset id, title)."""
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
    return dataset, title


def _copy_runs(runs: list[Run], out: Path) -> None:
    for r in runs:
        dst = out / "runs" / r.id
        dst.mkdir(parents=True)
        for name in ("config.yaml", "run.json", "metrics.json"):
            shutil.copy2(r.path / name, dst / name)
        shutil.copytree(r.path / "models", dst / "models", symlinks=False)


def _probe_imports(ws, runs: list[Run], out: Path) -> dict[str, str]:
    """Predict with the package in a child process: the distributions it imported; fails unless it reproduces the runs."""
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
    return deps


def _write_wheels(deps: dict[str, str], src: Path, out: Path) -> list[str]:
    """The medalist wheel and one wheel per pinned runtime dependency under wheels/, and requirements.txt; the pins."""
    wheels = out / "wheels"
    wheels.mkdir()
    with tempfile.TemporaryDirectory() as tmp:  # build from a copy: the source tree stays untouched by build/ and egg-info
        _copy_build_inputs(src, Path(tmp) / "src")
        _pip(["wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(Path(tmp) / "src")], "the medalist wheel")
    pins = [f"{d}=={v}" for d, v in sorted(deps.items())]
    _pip(["download", "--no-deps", "--only-binary=:all:", "-d", str(wheels), *pins], "runtime wheels")
    (out / "requirements.txt").write_text("\n".join(pins) + "\n")
    return pins
