"""The ``inference.py`` written into a package: install the wheels offline, then predict.

It runs on Kaggle with nothing but the package folder, so it is plain standard-library Python, filled
in with ``str.format`` (hence the doubled braces) and importing medalist only after installing it.
"""

from __future__ import annotations

__all__ = ["inference_script"]

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


def inference_script(title: str, runs: list[str], slug: str) -> str:
    """The ``inference.py`` text for a package of ``runs`` of competition ``slug``."""
    return _INFERENCE.format(title=title, runs=", ".join(runs), slug=slug)
