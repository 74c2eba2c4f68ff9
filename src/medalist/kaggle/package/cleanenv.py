"""A Kaggle-like clean Python environment: a fresh venv, no index, medalist absent, chosen libraries present.

:func:`clean_env` makes the venv; :func:`offline_environ` the process environment to run it with; :func:`run_logged`
runs a command in it and keeps the tail of its stderr for error messages. Used by
:mod:`medalist.kaggle.package.verify` (packages) and :mod:`medalist.twentyq.verify` (20 Questions agents).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import venv
from importlib import metadata as md
from pathlib import Path

from medalist.core.errors import ConfigError

__all__ = ["clean_env", "offline_environ", "run_logged", "stderr_tail", "work_folder"]

# an address nothing listens on: HTTP clients that honour proxy variables fail fast instead of reaching the internet
_DEAD_PROXY = "http://127.0.0.1:9"


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dist_entries(dist: md.Distribution) -> tuple[Path, set[str]]:
    """(the folder the distribution is installed in, its top-level entries there: packages, modules, dist-info, .libs)."""
    site = Path(str(dist.locate_file(""))).resolve()
    names: set[str] = set()
    for f in dist.files or []:
        parts = Path(str(f)).parts
        if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith(".pth") or len(parts) == 1 and parts[0].endswith(".pyc"):
            continue
        names.add(parts[0])
    if not names:  # no RECORD: fall back on top_level.txt and the metadata folder
        names = {t.strip() for t in (dist.read_text("top_level.txt") or "").split() if t.strip()}
        names |= {n for n in (f"{t}.py" for t in list(names)) if (site / n).exists()}
    meta = getattr(dist, "_path", None)
    if meta is not None:
        names.add(Path(meta).name)
    return site, {n for n in names if (site / n).exists()}


def _site_packages(env_dir: Path) -> Path:
    if os.name == "nt":  # pragma: no cover
        return env_dir / "Lib" / "site-packages"
    return env_dir / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def clean_env(dir: Path, *, preinstalled: list[str]) -> Path:
    """Create a fresh venv (with pip) under ``dir`` and return its python.

    medalist is not importable in it and nothing of this environment is, except the distributions named in
    ``preinstalled`` (as on Kaggle's image, which has them): their top-level packages, modules and metadata
    folders are symlinked into ``dir/preinstalled`` (from their RECORD), which a ``.pth`` file puts on the path
    after the venv's own site-packages, so a wheel installed into the venv wins over a preinstalled copy.
    Dependencies of a preinstalled distribution are there only if listed too. ``dir/preinstalled`` lies
    outside the venv's prefix, so pip never uninstalls (through the links) what it did not install. Run the
    python with :func:`offline_environ` so pip reaches no index.
    """
    dir = Path(dir)
    env_dir, shim = dir / "venv", dir / "preinstalled"
    if env_dir.exists() or shim.exists():
        raise ConfigError(str(dir), expected="a folder without venv/ and preinstalled/", found="one of them exists",
                          fix="pass a new folder")
    wanted = {_canon(p): p for p in preinstalled}
    if "medalist" in wanted:
        raise ConfigError("preinstalled", expected="distributions Kaggle's image has", found="'medalist'",
                          fix="medalist must come from the package's wheel: leave it out")
    dists = []
    for name in wanted.values():
        try:
            dists.append(md.distribution(name))
        except md.PackageNotFoundError:
            raise ConfigError(f"preinstalled: {name!r}", expected="a distribution installed in this environment",
                              found="not installed", fix=f"pip install {name} here, or leave it out") from None
    venv.EnvBuilder(with_pip=True, clear=True, symlinks=os.name != "nt").create(env_dir)
    shim.mkdir(parents=True)
    for dist in dists:
        site, names = _dist_entries(dist)
        for n in sorted(names):
            if not (shim / n).exists():  # a namespace folder shared by two distributions is linked once
                os.symlink(site / n, shim / n, target_is_directory=(site / n).is_dir())
    (_site_packages(env_dir) / "_medalist_preinstalled.pth").write_text(str(shim.resolve()) + "\n")
    py = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    return py


def offline_environ(work: Path, env_dir: Path | None = None) -> dict[str, str]:
    """The environment to run a clean venv's python with: no index for pip, no pip cache, no bytecode writes, no
    user site, HOME/TMPDIR/caches under ``work``, proxies pointing at a dead local port, no PYTHON*/PIP_*/KAGGLE_*
    variables of this process (PYTHONPATH would leak medalist's source in)."""
    work = Path(work)
    home, tmp = work / "home", work / "tmp"
    home.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True)
    drop = ("PYTHON", "VIRTUAL_ENV", "PIP_", "CONDA", "KAGGLE_", "MEDALIST", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(drop)}
    path = env.get("PATH", "/usr/bin:/bin")
    if env_dir is not None:
        path = f"{Path(env_dir) / 'bin'}{os.pathsep}{path}"
        env["VIRTUAL_ENV"] = str(env_dir)
    env.update(PATH=path, HOME=str(home), TMPDIR=str(tmp), XDG_CACHE_HOME=str(home / ".cache"), MPLCONFIGDIR=str(home / ".mpl"),
               PIP_NO_INDEX="1", PIP_NO_CACHE_DIR="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1",
               PYTHONNOUSERSITE="1", PYTHONHASHSEED="0")
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env[k] = _DEAD_PROXY
    return env


def stderr_tail(text: str, lines: int = 15) -> str:
    """The last ``lines`` non-empty lines of a process's output, each cut to 300 characters."""
    return "\n".join([ln[:300] for ln in (text or "").splitlines() if ln.strip()][-lines:])


def run_logged(cmd: list[str], *, env: dict[str, str], cwd: Path, timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``cmd`` capturing its output; (the completed process, seconds). A timeout returns code 124."""
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        res = subprocess.CompletedProcess(cmd, 124, out, err + f"\n(timed out after {timeout:.0f} s)")
    return res, time.perf_counter() - t0


def work_folder(work: Path | None, prefix: str) -> tuple[Path, bool]:
    """``(folder, keep)``: the caller's ``work`` (new or empty; kept) or a fresh temporary folder (removed by the caller)."""
    import tempfile

    if work is None:
        return Path(tempfile.mkdtemp(prefix=prefix)), False
    work = Path(work).resolve()
    if work.exists() and any(work.iterdir()):
        raise ConfigError(str(work), expected="a new or empty folder", found="files", fix="pass another work folder")
    work.mkdir(parents=True, exist_ok=True)
    return work, True
