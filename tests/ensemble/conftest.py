"""Two LightGBM runs on the covid workspace's folds, trained once for the ensemble tests."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import run_medalist

LGBM_A = """\
model:
  name: lightgbm
  params: {learning_rate: 0.1, num_leaves: 15, min_child_samples: 20, verbosity: -1}
  early_stopping_rounds: 20
  # the members these blend tests' expectations were measured on: stopped on the scored fold, native
  # metric (the old default; the new inner split changes the members, and weighted-blend nested <=
  # in-sample holds on these members, not as a theorem)
  early_stopping: {split: scoring-fold, metric: native}
  num_boost_round: 300
threads: 1
"""
LGBM_B = """\
model:
  name: lightgbm
  params: {learning_rate: 0.1, num_leaves: 4, feature_fraction: 0.5, verbosity: -1}
  early_stopping_rounds: 20
  # the members these blend tests' expectations were measured on: stopped on the scored fold, native
  # metric (the old default; the new inner split changes the members, and weighted-blend nested <=
  # in-sample holds on these members, not as a theorem)
  early_stopping: {split: scoring-fold, metric: native}
  num_boost_round: 300
threads: 1
"""


@pytest.fixture(scope="session")
def ens_template(covid_template, tmp_path_factory):
    """covid workspace copy with finished runs 'a-001' and 'b-001' (different LightGBM settings)."""
    from medalist.cv.runner import train
    from medalist.workspace.paths import Workspace

    root = tmp_path_factory.mktemp("ens") / "covid"
    shutil.copytree(covid_template, root)
    ws = Workspace.open(root)
    (root / "configs" / "a.yaml").write_text(LGBM_A)
    (root / "configs" / "b.yaml").write_text(LGBM_B)
    train(ws, root / "configs" / "a.yaml", tracking=False)
    train(ws, root / "configs" / "b.yaml", tracking=False)
    return root


@pytest.fixture
def ens_ws(ens_template, tmp_path, monkeypatch):
    from medalist.workspace.paths import Workspace

    root = tmp_path / "covid"
    shutil.copytree(ens_template, root)
    monkeypatch.chdir(root)
    return Workspace.open(root)


def cli(monkeypatch, capsys, *args):
    return run_medalist(monkeypatch, capsys, *args)
