"""Wheels for the machine the package runs on (Kaggle's notebook image), not for the machine that builds it.

``pip download`` fetches wheels for the *running* interpreter unless told otherwise; a package built on
a laptop with Python 3.11 would ship cp311 wheels that Kaggle's Python cannot install. :func:`download_wheels`
asks pip for one pin at a time with the target's platform tags, Python version, implementation and ABI,
so a pin that has no wheel for the target fails with its own name.

Kaggle's image (github.com/Kaggle/docker-python, ``Dockerfile.tmpl`` as of 2026-08) is built on a Colab
runtime with Python 3.12 (its site-packages is ``/usr/local/lib/python3.12/dist-packages``) on x86_64
Ubuntu 22.04 (glibc 2.35): :data:`KAGGLE_TARGET`. Check a notebook's own with ``!python -V`` and
``!ldd --version``; pass another with :meth:`Target.parse`.

Distributions the image already has and that are big are not shipped (:data:`KAGGLE_PREINSTALLED`).
Only libraries whose saved models load across versions are in that list: torch/torchvision state dicts
load in other torch versions. GBDT libraries are shipped (pinned): a LightGBM/XGBoost/CatBoost model file
written by a newer version may not load in an older one, and another version may predict slightly
differently (the package build checks the predictions bit for bit). ``skip``/``no_skip`` override it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Iterable

from medalist.core.errors import ConfigError
from medalist.kaggle.package.runtime import PackageError

__all__ = [
    "Target", "KAGGLE_TARGET", "KAGGLE_PREINSTALLED", "KAGGLE_DATASET_LIMIT", "skip_set", "download_wheels",
    "check_size", "canonical",
]

# Kaggle's per-dataset size limit (kaggle.com/docs/datasets: 200 GB per dataset; private datasets also count
# against the account's private quota).
KAGGLE_DATASET_LIMIT = 200 * 1000**3

# Big distributions Kaggle's image has, taken from the image rather than shipped (fnmatch patterns on
# canonical names). Their model formats load across versions (torch state dicts) or medalist never saves
# models with them.
KAGGLE_PREINSTALLED = frozenset({
    "torch", "torchvision", "torchaudio", "triton", "nvidia-*", "jax", "jaxlib", "jax-cuda*", "tensorflow",
    "tensorflow-*", "tensorboard", "tf-keras", "keras", "opencv-python", "opencv-python-headless",
    "opencv-contrib-python", "cupy-cuda*", "pytorch-triton",
})

_GLIBC_MAX = 35  # Ubuntu 22.04
_ARCHES = ("x86_64", "aarch64", "i686", "ppc64le", "s390x", "armv7l")


def canonical(name: str) -> str:
    """PEP 503 name: ``Scikit_Learn`` -> ``scikit-learn``.

    >>> canonical("Scikit_Learn"), canonical("nvidia.cublas-cu12")
    ('scikit-learn', 'nvidia-cublas-cu12')
    """
    return re.sub(r"[-_.]+", "-", name).lower()


def _expand_platform(tag: str) -> list[str]:
    """The tags a system of platform ``tag`` installs: a manylinux glibc tag brings every older one.

    >>> _expand_platform("manylinux_2_19_x86_64")
    ['manylinux_2_19_x86_64', 'manylinux_2_18_x86_64', 'manylinux_2_17_x86_64', 'manylinux2014_x86_64']
    >>> _expand_platform("win_amd64")
    ['win_amd64']
    """
    m = re.fullmatch(r"manylinux_2_(\d+)_(\w+)", tag)
    if m is None:
        m2 = re.fullmatch(r"manylinux2014_(\w+)", tag)
        return [tag] if m2 is None else [f"manylinux_2_17_{m2[1]}", tag]
    glibc, arch = int(m[1]), m[2]
    out = [f"manylinux_2_{v}_{arch}" for v in range(glibc, 16, -1)]
    return out + ([f"manylinux2014_{arch}"] if glibc >= 17 and arch in _ARCHES else [])


@dataclass(frozen=True)
class Target:
    """The interpreter and platform the wheels are for: what pip's ``--platform/--python-version/
    --implementation/--abi`` say (pip accepts any of ``platforms``; pure-Python wheels always fit).

    >>> t = Target.parse(python="3.11", platform="manylinux2014_x86_64")
    >>> t.platforms, t.python_version, t.implementation, t.abi
    (('manylinux_2_17_x86_64', 'manylinux2014_x86_64'), '3.11', 'cp', 'cp311')
    >>> str(KAGGLE_TARGET)
    'cp312 manylinux_2_35_x86_64'
    """

    platforms: tuple[str, ...]
    python_version: str
    implementation: str = "cp"
    abi: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"3\.\d{1,2}", self.python_version):
            raise ConfigError("--python", expected="a Python version like 3.12", found=repr(self.python_version))
        if not self.platforms:
            raise ConfigError("--platform", expected="one or more platform tags (e.g. manylinux_2_35_x86_64)", found="none")
        if not self.abi:
            object.__setattr__(self, "abi", f"{self.implementation}{self.python_version.replace('.', '')}")

    @classmethod
    def parse(cls, python: str | None = None, platform: str | None = None, *, implementation: str = "cp",
              abi: str | None = None) -> "Target":
        """A target from CLI options: ``python`` "3.12", ``platform`` one tag or several separated by commas;
        what is not given comes from :data:`KAGGLE_TARGET`. A manylinux tag implies the older glibc tags."""
        py = python or KAGGLE_TARGET.python_version
        if platform:
            tags: list[str] = []
            for t in (p.strip() for p in platform.split(",")):
                tags += [x for x in _expand_platform(t) if x not in tags] if t else []
            plats = tuple(tags)
        else:
            plats = KAGGLE_TARGET.platforms
        return cls(plats, py, implementation, abi or "")

    def pip_args(self) -> list[str]:
        """The pip download flags for this target."""
        out = []
        for p in self.platforms:
            out += ["--platform", p]
        return out + ["--python-version", self.python_version, "--implementation", self.implementation, "--abi", self.abi]

    def __str__(self) -> str:
        return f"{self.abi} {self.platforms[0]}"


KAGGLE_TARGET = Target(tuple(_expand_platform(f"manylinux_2_{_GLIBC_MAX}_x86_64")), "3.12")


def skip_set(skip: Iterable[str] = (), no_skip: Iterable[str] = (), *, defaults: bool = True) -> set[str]:
    """The distributions (fnmatch patterns) not to ship: :data:`KAGGLE_PREINSTALLED` (unless ``defaults`` is
    False) plus ``skip``, minus ``no_skip``.

    >>> "torch" in skip_set(no_skip=["torch"]), "xgboost" in skip_set(skip=["XGBoost"])
    (False, True)
    """
    out = {canonical(s) for s in KAGGLE_PREINSTALLED} if defaults else set()
    out |= {canonical(s) for s in skip}
    return out - {canonical(s) for s in no_skip}


def _split_pin(pin: str) -> tuple[str, str | None]:
    m = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*([^\s;,]+))?\s*", pin)
    if m is None:
        raise ConfigError(f"requirement {pin!r}", expected="NAME==VERSION", found=repr(pin))
    return m[1], m[2]


def _skipped(name: str, skip: set[str]) -> bool:
    n = canonical(name)
    return any(fnmatch(n, canonical(p)) for p in skip)


def _run_pip(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--no-input"],
                          capture_output=True, text=True)


def _pip_says(res: subprocess.CompletedProcess) -> str:
    lines = [ln.strip() for ln in (res.stderr or res.stdout or "").splitlines() if ln.strip()]
    errs = [ln for ln in lines if ln.startswith("ERROR")] or lines[-2:]
    errs.sort(key=lambda ln: "No matching distribution" not in ln)  # pip's verdict first, its long lists after
    return " | ".join(ln if len(ln) < 300 else ln[:297] + "..." for ln in errs)[:700] or f"pip exit status {res.returncode}"


def _is_pure(whl: Path) -> bool:
    """A wheel of pure Python: tag ``py3-none-any`` (or ``py2.py3-none-any``)."""
    parts = whl.name[:-4].split("-")
    return len(parts) >= 5 and parts[-2] == "none" and parts[-1] == "any" and parts[-3].startswith("py")


def _no_wheel_error(pin: str, target: Target, why: str) -> PackageError:
    name, version = _split_pin(pin)
    return PackageError(
        f"wheel of {name} {version or '(any version)'} for {target} (Python {target.python_version})",
        expected="a wheel on the index for the target platform", found=why,
        fix=f"pin another version of {name}; or --skip {name} if Kaggle's image already has it; "
            "or --python/--platform for the image the notebook really runs (`!python -V` in a notebook)",
    )


def _fetch_one(pin: str, tmp: Path, target: Target) -> tuple[Path, bool]:
    """One pin's wheel into ``tmp``: (the wheel, built locally from an sdist)."""
    res = _run_pip(["download", "--no-deps", "--only-binary=:all:", *target.pip_args(), "-d", str(tmp / "dl"), pin])
    if res.returncode == 0:
        got = sorted((tmp / "dl").glob("*.whl"))
        if len(got) == 1:
            return got[0], False
        raise _no_wheel_error(pin, target, f"{len(got)} wheels from pip ({[p.name for p in got]})")
    said = _pip_says(res)
    # a binary package with wheels for other platforms (this machine's, say) but none for the target
    here = _run_pip(["download", "--no-deps", "--only-binary=:all:", "-d", str(tmp / "here"), pin])
    if here.returncode == 0:
        other = "Python versions (Requires-Python)" if any(_is_pure(w) for w in (tmp / "here").glob("*.whl")) else "platforms"
        raise _no_wheel_error(pin, target, f"wheels for other {other} only ({said})")
    # no wheel anywhere: a pure-Python sdist can be built here
    built = _run_pip(["wheel", "--no-deps", "--no-binary=:all:", "-w", str(tmp / "built"), pin])
    wheels = sorted((tmp / "built").glob("*.whl")) if built.returncode == 0 else []
    if len(wheels) != 1:
        raise _no_wheel_error(pin, target, f"no wheel and no buildable source ({said})")
    if not _is_pure(wheels[0]):
        raise _no_wheel_error(pin, target, f"only a source release, which builds a platform wheel here ({wheels[0].name}), "
                                           "not a pure-Python one")
    return wheels[0], True


def download_wheels(pins: list[str], dest: Path, *, target: Target = KAGGLE_TARGET, skip: set[str] | None = None) -> dict[str, Any]:
    """One wheel per pin (``NAME==VERSION``) for ``target`` into ``dest``; pins matching ``skip`` are not shipped.

    Each pin is one ``pip download --no-deps --only-binary=:all:`` with the target's flags, so a failure
    names its package. A pin with no wheel at all but a source release is built here with
    ``pip wheel --no-deps`` and kept only when the result is pure Python (``py3-none-any``). Each wheel
    lands in ``dest`` whole (moved from a temporary folder). Returns ``{"shipped": [wheel file names],
    "skipped": [pins], "built": [pins built from source], "bytes": size of the shipped wheels}``.
    """
    skip = skip_set() if skip is None else skip
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shipped, skipped, built, size = [], [], [], 0
    for pin in pins:
        name, _ = _split_pin(pin)
        if _skipped(name, skip):
            skipped.append(pin)
            continue
        with tempfile.TemporaryDirectory(prefix="medalist-whl-") as tmp:
            whl, from_source = _fetch_one(pin, Path(tmp), target)
            final = dest / whl.name
            shutil.move(str(whl), str(dest / f".{whl.name}.part"))
            (dest / f".{whl.name}.part").replace(final)
        shipped.append(final.name)
        size += final.stat().st_size
        if from_source:
            built.append(pin)
    return {"shipped": shipped, "skipped": skipped, "built": built, "bytes": size}


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} GB"  # pragma: no cover


def check_size(folder: Path, limit_bytes: int = KAGGLE_DATASET_LIMIT) -> int:
    """The total size of the files under ``folder``; a :class:`PackageError` naming the largest files when it
    exceeds ``limit_bytes`` (default :data:`KAGGLE_DATASET_LIMIT`, Kaggle's per-dataset limit)."""
    folder = Path(folder)
    files = [(p.stat().st_size, p) for p in folder.rglob("*") if p.is_file()]
    total = sum(s for s, _ in files)
    if total > limit_bytes:
        top = sorted(files, key=lambda t: -t[0])[:3]
        names = ", ".join(f"{p.relative_to(folder)} ({_human(s)})" for s, p in top)
        raise PackageError(f"package {folder}", expected=f"at most {_human(limit_bytes)} (Kaggle's dataset limit)",
                           found=f"{_human(total)}; largest: {names}",
                           fix="--skip the big wheels Kaggle's image already has, or package fewer runs/folds")
    return total
