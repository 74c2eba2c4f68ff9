"""Fixtures for the docstring examples under src/medalist (run by ``--doctest-modules``; not in the wheel).

Every example runs in a fresh temporary folder, so the files it writes go nowhere else. An example
that calls ``Workspace.find()`` runs inside a fresh copy of a small workspace built once
per session: scikit-learn's breast-cancer table (569 rows) as a local competition (binary, AUC, 30%
held out as the test set, 3 stratified folds, tracking off) with two finished runs, ``lgbm-001``
(``configs/lgbm.yaml``, which has a ``tune:`` space) and ``logreg-001`` (``configs/logreg.yaml``), and
``configs/fe.yaml`` (lgbm.yaml plus one ``expr`` feature).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

# Package data, not modules: never imported for collection.
collect_ignore_glob = ["medalist/workspace/templates/*", "medalist/twentyq/data/*"]

LGBM = """\
model:
  name: lightgbm
  params: {learning_rate: 0.1, num_leaves: 15, min_child_samples: 20, verbosity: -1}
  early_stopping_rounds: 20
  # the stopping the examples' numbers were measured with: on the scored fold, native metric
  # (the default since is an inner split on the competition metric; docs/early_stopping.md)
  early_stopping: {split: scoring-fold, metric: native}
  num_boost_round: 300
seeds: [42]
threads: 1
tune:
  space:
    model.params.num_leaves: {type: int, low: 4, high: 31}
"""
FE = """\
base: lgbm.yaml
features:
  - {block: expr, name: area_ratio, sql: "worst_area / mean_area"}
"""
LOGREG = """\
model:
  name: sklearn:sklearn.linear_model.LogisticRegression
  params: {C: 0.5, max_iter: 2000}
threads: 1
"""
_NEEDS_WS = re.compile(r"\bWorkspace\.find\(\)")


@pytest.fixture(scope="session")
def doc_workspace(tmp_path_factory) -> Path:
    """The breast-cancer workspace with runs lgbm-001 and logreg-001 (built once; copy it before use)."""
    import polars as pl
    from sklearn.datasets import load_breast_cancer

    from medalist.cv.runner import train
    from medalist.workspace.competition import init_local_competition
    from medalist.workspace.folds import build_folds

    base = tmp_path_factory.mktemp("doc")
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    pl.from_pandas(frame).write_csv(base / "cancer.csv")
    root = base / "cancer"
    ws = init_local_competition(root, str(base / "cancer.csv"), target="target", name="cancer")
    ws.config.tracking = "none"
    ws.save_config()
    build_folds(ws, k=3)
    for name, text in (("lgbm", LGBM), ("logreg", LOGREG)):
        path = root / "configs" / f"{name}.yaml"
        path.write_text(text)
        train(ws, path, tracking=False)
    (root / "configs" / "fe.yaml").write_text(FE)
    return root


@pytest.fixture(autouse=True)
def _doctest_folder(request, doctest_namespace, tmp_path, monkeypatch):
    from _pytest.doctest import DoctestItem

    if not isinstance(request.node, DoctestItem):
        return
    import numpy as np
    import polars as pl

    from medalist.workspace.paths import Workspace

    doctest_namespace.update(Path=Path, np=np, pl=pl, Workspace=Workspace)
    source = "\n".join(ex.source for ex in request.node.dtest.examples)
    if _NEEDS_WS.search(source):
        root = tmp_path / "cancer"
        shutil.copytree(request.getfixturevalue("doc_workspace"), root)
        monkeypatch.chdir(root)
    else:
        monkeypatch.chdir(tmp_path)
