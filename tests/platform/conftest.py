"""Fixtures of the platform tests: a covid workspace with two finished runs, the Kaggle stub, a planted key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import FAST_LGBM

KEY = "0123456789abcdefPLANTEDkaggleKEY42"  # planted: no file medalist writes may contain it
USER = "medalist-tester"

LGBM = FAST_LGBM + "threads: 1\n"
LINEAR = """\
model:
  name: sklearn:sklearn.linear_model.LogisticRegression
  params: {C: 0.5, max_iter: 2000}
threads: 1
"""


@pytest.fixture(scope="session")
def trained_template(covid_template, tmp_path_factory) -> Path:
    """covid workspace with a LightGBM and a logistic-regression run (tracking off)."""
    from medalist.runner import train
    from medalist.workspace import Workspace

    root = tmp_path_factory.mktemp("trained") / "covid"
    shutil.copytree(covid_template, root)
    (root / "configs" / "fast.yaml").write_text(LGBM)
    (root / "configs" / "lin.yaml").write_text(LINEAR)
    ws = Workspace.open(root)
    train(ws, root / "configs" / "fast.yaml", tracking=False)
    train(ws, root / "configs" / "lin.yaml", tracking=False)
    return root


@pytest.fixture
def trained_ws(trained_template, tmp_path, monkeypatch):
    from medalist.workspace import Workspace

    root = tmp_path / "covid"
    shutil.copytree(trained_template, root)
    monkeypatch.chdir(root)
    return Workspace.open(root)


@pytest.fixture
def kaggle_env(monkeypatch, tmp_path):
    """Credentials in the environment (the planted key), KAGGLE_API_ENVIRONMENT=TEST, an empty home."""
    home = tmp_path / "home"
    (home / ".kaggle").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(home / ".kaggle"))
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "TEST")
    monkeypatch.setenv("KAGGLE_USERNAME", USER)
    monkeypatch.setenv("KAGGLE_KEY", KEY)
    monkeypatch.delenv("KAGGLE_API_TOKEN", raising=False)
    for v in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    return home


@pytest.fixture
def stub(kaggle_env):
    pytest.importorskip("kaggle", reason="the kaggle extra is not installed (pip install 'medalist[kaggle]')")
    from tests.platform.kaggle_stub import PORT, KaggleStub

    s = KaggleStub(USER, KEY)
    try:
        s.__enter__()
    except OSError as e:
        pytest.fail(f"port {PORT} is taken ({e}): kagglesdk's TEST environment needs it for the Kaggle stub")
    try:
        yield s
    finally:
        s.__exit__(None, None, None)
