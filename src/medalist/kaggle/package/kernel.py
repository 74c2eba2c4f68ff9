"""The Kaggle notebook that runs a package: ``kernel/inference.ipynb`` and ``kernel/kernel-metadata.json``.

Code competitions score a notebook version, not a file. :func:`write_kernel` writes a notebook that finds
the package dataset and the competition data under ``/kaggle/input``, runs the package's ``inference.py``
(``--input`` the competition data, ``--out /kaggle/working/submission.csv``) and shows the head of the
submission; ``kaggle kernels push -p OUT/kernel`` (or :func:`medalist.kaggle.api.push_kernel`) uploads it.

Mount layouts: attached inputs used to appear as ``/kaggle/input/<slug>``; newer notebooks mount them
by kind (``/kaggle/input/competitions/<slug>``, ``/kaggle/input/datasets/<owner>/<slug>``). The notebook
tries those paths first, then searches ``/kaggle/input`` (four levels) for the package's ``inference.py``
beside its ``package.json``, and for the competition's sample submission file. The environment
variable ``MEDALIST_KAGGLE_ROOT`` replaces ``/kaggle`` (to try the notebook outside Kaggle).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from medalist.core.errors import ConfigError
from medalist.core.io import atomic_write_text
from medalist.core.optional import require

__all__ = ["write_kernel", "kernel_slug", "ROOT_ENV"]

ROOT_ENV = "MEDALIST_KAGGLE_ROOT"

_FIND = '''import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(os.environ.get({env!r}) or "/kaggle")
INPUT, WORKING = ROOT / "input", ROOT / "working"
DATASET = {dataset!r}        # the medalist package (a Kaggle dataset)
COMPETITION = {competition!r}


def search(marker, depth=4, want=None):
    """Folders under INPUT (up to depth levels) holding file `marker`; those named `want` first."""
    hits = []
    for k in range(1, depth + 1):
        hits += [p.parent for p in sorted(INPUT.glob("/".join(["*"] * k) + "/" + marker))]
    return sorted(hits, key=lambda d: (d.name != want, len(d.parts)))


def package_dir():
    owner, slug = DATASET.split("/")
    for d in (INPUT / slug, INPUT / "datasets" / owner / slug, INPUT / owner / slug):
        if (d / "inference.py").is_file():
            return d
    found = [d for d in search("inference.py", want=slug) if (d / "package.json").is_file()]
    if not found:
        raise FileNotFoundError(f"the package dataset {{DATASET}} is not under {{INPUT}}: add it as an input of this notebook")
    return found[0]


def competition_dir(pkg):
    try:
        sample = Path(json.loads((pkg / "package.json").read_text())["workspace"]["competition"]["data"]["sample_submission"]).name
    except (KeyError, TypeError, ValueError, OSError):
        sample = "sample_submission.csv"
    named = [d for d in (INPUT / COMPETITION, INPUT / "competitions" / COMPETITION) if d.is_dir() and d != pkg]
    found = [d for d in named if (d / sample).is_file()] + [d for d in search(sample, want=COMPETITION) if d != pkg] + named
    if not found:
        raise FileNotFoundError(f"the data of competition {{COMPETITION}} is not under {{INPUT}}: add it as an input")
    return found[0]


PKG = package_dir()
DATA = competition_dir(PKG)
WORKING.mkdir(parents=True, exist_ok=True)
SUBMISSION = WORKING / "submission.csv"
print(f"package {{PKG}}\\ncompetition data {{DATA}}")
subprocess.run([sys.executable, str(PKG / "inference.py"), "--input", str(DATA), "--out", str(SUBMISSION)], check=True)
'''

_SHOW = '''import pandas as pd

submission = pd.read_csv(SUBMISSION)
print(f"{len(submission)} rows -> {SUBMISSION}")
submission.head()
'''


def kernel_slug(title: str) -> str:
    """The notebook slug Kaggle derives from a title (lower case, words joined by ``-``).

    >>> kernel_slug("medalist covid: fast-001 + lin_002")
    'medalist-covid-fast-001-lin-002'
    """
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _notebook(*, title: str, dataset: str, competition: str, runs: list[str] | None):
    nbformat = require("nbformat", extra="kaggle", purpose="writing the Kaggle notebook")
    v4 = nbformat.v4
    about = (f"# {title}\n\nOffline inference with the medalist package "
             f"[{dataset}](https://www.kaggle.com/datasets/{dataset}) for the competition "
             f"[{competition}](https://www.kaggle.com/competitions/{competition})"
             + (f" (runs {', '.join(runs)})" if runs else "") + ". No internet: the package installs its own wheels.")
    nb = v4.new_notebook(
        cells=[
            v4.new_markdown_cell(about),
            v4.new_code_cell(_FIND.format(env=ROOT_ENV, dataset=dataset, competition=competition)),
            v4.new_code_cell(_SHOW),
        ],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    nbformat.validate(nb)
    return nbformat, nb


def write_kernel(folder: Path, *, dataset: str, competition: str, kernel: str | None, title: str, gpu: bool = False,
                 private: bool = True, runs: list[str] | None = None) -> dict[str, Any]:
    """Write ``folder/kernel/inference.ipynb`` and ``folder/kernel/kernel-metadata.json``.

    ``kernel`` is the notebook's ``OWNER/SLUG`` (default: the dataset's owner and the slug of ``title``,
    which Kaggle derives from the title anyway). The notebook has internet off and the package dataset
    and the competition as its inputs. Returns ``{"kernel", "folder", "notebook", "metadata"}``.
    """
    if dataset.count("/") != 1 or not all(dataset.split("/")):
        raise ConfigError("dataset", expected="OWNER/DATASET", found=repr(dataset))
    if not competition or "/" in competition:
        raise ConfigError("competition", expected="a competition slug (kaggle.com/competitions/SLUG)", found=repr(competition))
    if len(title.strip()) < 5:
        raise ConfigError("notebook title", expected="at least 5 characters (Kaggle's minimum)", found=repr(title))
    kernel = kernel or f"{dataset.split('/')[0]}/{kernel_slug(title)}"
    if kernel.count("/") != 1 or not all(kernel.split("/")):
        raise ConfigError("--kernel", expected="OWNER/NOTEBOOK", found=repr(kernel))
    nbformat, nb = _notebook(title=title, dataset=dataset, competition=competition, runs=runs)
    out = Path(folder) / "kernel"
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "id": kernel, "title": title, "code_file": "inference.ipynb", "language": "python", "kernel_type": "notebook",
        "is_private": bool(private), "enable_gpu": bool(gpu), "enable_tpu": False, "enable_internet": False,
        "dataset_sources": [dataset], "competition_sources": [competition], "kernel_sources": [], "model_sources": [],
    }
    atomic_write_text(out / "inference.ipynb", nbformat.writes(nb) + "\n")
    atomic_write_text(out / "kernel-metadata.json", json.dumps(meta, indent=2) + "\n")
    return {"kernel": kernel, "folder": str(out), "notebook": str(out / "inference.ipynb"), "metadata": str(out / "kernel-metadata.json")}
