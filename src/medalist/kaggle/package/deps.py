"""What a package ships besides the runs: the medalist wheel and the runtime dependencies inference imports.

The dependency set is measured, not guessed: :mod:`.build` predicts once in a child process and the
distributions that prediction imported, restricted to the closure of medalist's base dependencies and
the runs' model libraries, become the requirements.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from medalist.kaggle.package.runtime import PackageError

__all__ = ["runtime_deps", "write_wheels", "source_root", "copy_build_inputs", "closure"]

# distributions never shipped: the standard library shim names and build tooling
_SKIP = {"pip", "setuptools", "wheel", "medalist", "_distutils_hack", "pkg_resources"}


def source_root() -> Path:
    import medalist

    here = Path(medalist.__file__).resolve().parent
    for d in here.parents:
        if (d / "pyproject.toml").is_file() and (d / "src" / "medalist").is_dir():
            return d
    raise PackageError("medalist wheel", expected="medalist installed from its source tree (pip install -e .)",
                       found=f"an installed copy at {here}", fix="install medalist from source to package it")


def copy_build_inputs(src: Path, dst: Path) -> None:
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


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# model families -> the distributions they need beyond medalist's base dependencies
_MODEL_DISTS = {"lightgbm": ["lightgbm"], "xgboost": ["xgboost"], "catboost": ["catboost"], "conv1x3": ["torch"],
                "sklearn": ["skops"]}
# model families -> the pyproject extra whose libraries they may import
_MODEL_EXTRAS = {"timm_image": "vision", "segmentation": "vision", "detection": "vision", "signal": "signal"}


def runtime_deps(imported: dict[str, str], src: Path, models: list[str]) -> dict[str, str]:
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
    extras = project.get("optional-dependencies", {})

    def extra_names(extra: str, seen: set[str]) -> list[str]:  # 'signal' includes 'medalist[vision]'
        out: list[str] = []
        for r in extras.get(extra, []):
            rq = Requirement(r)
            if _canon(rq.name) == "medalist":
                out += [n for e in rq.extras if e not in seen for n in extra_names(e, seen | {e})]
            else:
                out.append(rq.name)
        return out

    for model in models:
        for part in str(model or "").split(":"):  # 'stack:lightgbm' needs lightgbm
            roots += _MODEL_DISTS.get(part, [])
            roots += extra_names(_MODEL_EXTRAS.get(part, ""), set())
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




def closure(names: list[str]) -> list[str]:
    """``names`` and every installed distribution they require (non-extra requirements), transitively:
    what the notebook image must have for the distributions a package does not ship (torch needs its CUDA
    wheels, sympy, filelock, …)."""
    from importlib import metadata as md

    try:
        from packaging.requirements import Requirement
    except ImportError:  # pragma: no cover
        from pip._vendor.packaging.requirements import Requirement

    seen: dict[str, str] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        key = _canon(dist.metadata["Name"])
        if key in seen:
            continue
        seen[key] = dist.metadata["Name"]
        for req in dist.requires or []:
            rq = Requirement(req)
            if rq.marker is None or rq.marker.evaluate({"extra": ""}):
                todo.append(rq.name)
    return sorted(seen.values(), key=str.lower)


def write_wheels(deps: dict[str, str], src: Path, out: Path, *, target=None, skip: set[str] | None = None) -> dict:
    """The medalist wheel and one wheel per pinned runtime dependency for ``target`` (Kaggle's image by default)
    under wheels/, except the distributions in ``skip`` (the image has them); requirements.txt lists every pin.

    Returns :func:`~medalist.kaggle.package.wheels.download_wheels`' report plus ``pins``.
    """
    from medalist.kaggle.package.wheels import KAGGLE_TARGET, download_wheels, skip_set

    wheels = out / "wheels"
    wheels.mkdir()
    with tempfile.TemporaryDirectory() as tmp:  # build from a copy: the source tree stays untouched by build/ and egg-info
        copy_build_inputs(src, Path(tmp) / "src")
        _pip(["wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(Path(tmp) / "src")], "the medalist wheel")
    pins = [f"{d}=={v}" for d, v in sorted(deps.items())]
    report = download_wheels(pins, wheels, target=target or KAGGLE_TARGET, skip=skip_set() if skip is None else skip)
    (out / "requirements.txt").write_text("\n".join(pins) + "\n")
    return {**report, "pins": pins}
