"""External training rows and init_from (pretrain → fine-tune) for ``model: signal`` on sktime's OSULeaf.

OSULeaf (UCR: leaf outlines as 1-D series, 6 classes, length 427): its TRAIN split (200 rows) is the
competition's train, its TEST split other data — 20 rows the competition's test set, 222 labelled rows
``data/external.parquet``. External rows train in every fold and never reach the OOF; fine-tuning from a
run pretrained on those 222 rows beats training from scratch on the same epochs and LR (docs/signal.md).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml

from medalist.datasets.ucr import ucr_dir

pytestmark = pytest.mark.skipif(ucr_dir("OSULeaf") is None, reason="OSULeaf missing: pip install sktime")

# Raw → 1-D CNN and STFT → test_efficientnet (32 px), 10 epochs at lr 0.01: ~8 s per fold on one core.
CONFIG = {"model": {"name": "signal", "params": {
    "signals": {"columns": ["ch0"]}, "sample_rate": 100, "epochs": 10, "batch_size": 32, "lr": 0.01,
    "branches": [{"name": "wave", "input": "raw", "hidden": 16, "layers": 3},
                 {"name": "stft", "input": "stft", "n_fft": 32, "hop": 8, "backbone": "test_efficientnet", "img_size": 32}]}},
    "columns": {"keep": ["ch0"]}, "threads": 1, "seeds": [0]}
EXTERNAL = {"external": {"file": "data/external.parquet"}}


@pytest.fixture(scope="module")
def osuleaf_template(tmp_path_factory) -> Path:
    """The OSULeaf workspace: 200 train rows (3 stratified folds), 20 test rows, 222 external rows."""
    from medalist.datasets.ucr import make_ucr_workspace

    root = tmp_path_factory.mktemp("osuleaf") / "osuleaf"
    make_ucr_workspace(root, "OSULeaf", k=3, n_test=20)
    return root


def _train(root: Path, name: str, params: dict, **top):
    """Train ``CONFIG`` with ``params`` (and experiment-level ``top`` keys) in the workspace at ``root``."""
    from medalist.cv.runner import train
    from medalist.workspace.paths import Workspace

    cfg = yaml.safe_load(yaml.safe_dump(CONFIG))
    cfg["model"]["params"].update(params)
    cfg.update(top)
    path = root / "configs" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    cwd = os.getcwd()
    os.chdir(root)
    try:
        return train(Workspace.open(root), path, tracking=False)
    finally:
        os.chdir(cwd)


def _assert_oof_is_train_only(run, root: Path) -> None:
    train_ids = pl.read_parquet(root / "data" / "train.parquet")["id"].to_list()
    oof = run.oof()
    assert oof.height == len(train_ids) == 200
    assert sorted(oof["id"].to_list()) == sorted(train_ids)  # no external id ("e…") in the OOF


def test_external_rows_train_every_fold_and_stay_out_of_the_oof(osuleaf_template, tmp_path):
    import json

    root = tmp_path / "ws"
    shutil.copytree(osuleaf_template, root, symlinks=True)
    run = _train(root, "ext_fast", {**EXTERNAL, "epochs": 1, "branches": [{"name": "wave", "input": "raw", "hidden": 8, "layers": 2}]})
    _assert_oof_is_train_only(run, root)
    folds = sorted((run.path / "models").glob("r0_f*"))
    assert len(folds) == 3
    for d in folds:
        assert json.loads((d / "model.json").read_text())["n_external"] == 222


@pytest.fixture(scope="module")
def scratch_run(osuleaf_template):
    """The baseline: no external rows, fresh weights (shared by both slow comparisons)."""
    return _train(osuleaf_template, "scratch", {})


@pytest.mark.slow
def test_external_rows_improve_signal_oof_and_never_enter_it(osuleaf_template, scratch_run):
    ext = _train(osuleaf_template, "external", EXTERNAL)
    _assert_oof_is_train_only(ext, osuleaf_template)
    _assert_oof_is_train_only(scratch_run, osuleaf_template)
    base, with_ext = scratch_run.metrics["oof"], ext.metrics["oof"]
    print(f"OOF accuracy: base {base:.4f}, + 222 external rows {with_ext:.4f}")
    assert with_ext > base + 0.10  # measured 0.615 → 0.835 (seed 0), 0.660 → 0.820 (seed 1)


def _pretraining_workspace(template: Path, root: Path):
    """A workspace whose train rows are the 222 external rows (other data, the same 6 labels)."""
    from medalist.workspace.competition import init_workspace
    from medalist.workspace.folds import build_folds

    ext = pl.read_parquet(template / "data" / "external.parquet")
    src = root.parent / ".pre-src"
    src.mkdir(parents=True, exist_ok=True)
    ext.write_parquet(src / "train.parquet")
    ext.drop("label").head(10).write_parquet(src / "test.parquet")
    ext.select("id").head(10).with_columns(pl.lit(ext["label"][0]).alias("label")).write_csv(src / "sample_submission.csv")
    ws = init_workspace(root, train=src / "train.parquet", test=src / "test.parquet", sample_submission=src / "sample_submission.csv",
                        target="label", id="id", task="multiclass", metric="accuracy", name="pre")
    ws.config.tracking = "none"
    ws.save_config()
    build_folds(ws, scheme="stratified", k=2)
    return ws


@pytest.mark.slow
def test_init_from_a_pretraining_run_beats_scratch_for_signals(osuleaf_template, scratch_run, tmp_path, monkeypatch):
    pre_ws = _pretraining_workspace(osuleaf_template, tmp_path / "pre")
    pre = _train(pre_ws.root, "pre", {}, full_fit=True)
    tuned = _train(osuleaf_template, "tuned", {"init_from": str(pre.path)})
    _assert_oof_is_train_only(tuned, osuleaf_template)
    s, t = scratch_run.metrics["oof"], tuned.metrics["oof"]
    print(f"pretrain CV {pre.metrics['oof']:.4f}; OOF accuracy: scratch {s:.4f}, init_from {t:.4f}")
    assert t > s + 0.05  # measured 0.615 → 0.745 (seed 0), 0.660 → 0.745 (seed 1)

    from medalist.signal.config import SignalParams
    from medalist.signal.net import build_signal_net
    from medalist.vision.finetune import init_weights_of_run, load_matching

    monkeypatch.chdir(osuleaf_template)
    assert sorted((pre.path / "models").glob("full_*"))  # init_from loads the full-data model
    state = init_weights_of_run(str(pre.path))
    net = build_signal_net(SignalParams.model_validate(CONFIG["model"]["params"]), 1, 427, 6, {})
    loaded, fresh = load_matching(net, state)
    assert fresh == [] and len(loaded) == len(net.state_dict()) > 50  # same net, same 6 labels: every tensor loaded


def test_external_rows_without_the_vote_columns_are_named(osuleaf_template, tmp_path):
    from medalist.core.errors import DataError

    root = tmp_path / "ws"
    shutil.copytree(osuleaf_template, root, symlinks=True)
    train = pl.read_parquet(root / "data" / "train.parquet")
    votes = [f"v{c}" for c in range(1, 7)]
    train.with_columns((pl.col("label") == str(c)).cast(pl.Int64).alias(f"v{c}") for c in range(1, 7)).write_parquet(
        root / "data" / "train.parquet")
    with pytest.raises(DataError, match=r"external.parquet: column 'v1'"):  # not a bare 'missing vote counts' on training rows
        _train(root, "ext_votes", {**EXTERNAL, "votes": votes, "epochs": 1,
                                   "branches": [{"name": "wave", "input": "raw", "hidden": 8, "layers": 2}]},
               columns={"keep": ["ch0", *votes]})
