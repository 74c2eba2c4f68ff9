"""A timm image model through the real CV runner on Fashion-MNIST PNGs: OOF, curves, artifacts,
full-data fit, save/load with TTA, oof_feature, pseudo-labels."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tests.vision.conftest import IMG_CONFIG, needs_fashion

pytestmark = needs_fashion


@pytest.fixture(scope="session")
def fashion_run(fashion_template):
    """One 3-fold CV run (2 epochs, aux head, hflip TTA) plus the full-data refit, in the template."""
    from medalist.cv.runner import train
    from medalist.workspace.paths import Workspace

    cfg = fashion_template / "configs" / "img_full.yaml"
    cfg.write_text(IMG_CONFIG + "full_fit: true\n")
    cwd = os.getcwd()
    os.chdir(fashion_template)
    try:
        run = train(Workspace.open(fashion_template), cfg, tracking=False)
    finally:
        os.chdir(cwd)
    return run


def test_oof_accuracy_beats_a_broken_pipeline(fashion_run):
    m = fashion_run.metrics
    # chance is 0.1 and a constant prediction 0.1; two epochs of a tiny CNN reach ~0.75
    # measured OOF accuracy 0.7767, folds 0.755 / 0.803 / 0.772 (seed 42, one thread). CPU image runs are
    # not bit-reproducible run to run (~0.03 spread seen 2026-12-02), so the margin is 0.05, not 0.02
    assert m["metric"] == "accuracy" and m["oof"] > 0.7767 - 0.05, m
    assert len(m["folds"]) == 3 and all(f["score"] > 0.755 - 0.05 for f in m["folds"]), m["folds"]
    oof = fashion_run.oof()
    pcols = [c for c in oof.columns if c.startswith("pred_")]
    assert len(pcols) == 10 and oof.height == 1800
    p = oof.select(pcols).to_numpy()
    assert np.isfinite(p).all() and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert all(b == [2] for b in (f["best_iterations"] for f in m["folds"]))


def test_each_loss_metric_and_lr_logged_per_epoch(fashion_run):
    curves = pl.read_parquet(fashion_run.path / "curves.parquet")
    names = set(curves["name"])
    for n in ("train_loss", "train_target_loss", "train_aux_is_top_loss", "valid_loss", "valid_target_loss",
              "valid_aux_is_top_loss", "valid_accuracy", "lr", "lr_backbone", "train_bad_images", "epoch_seconds"):
        assert n in names, (n, sorted(names))
    per_fold = curves.filter(pl.col("name") == "valid_accuracy").group_by("fold").agg(pl.col("step").sort())
    assert sorted(per_fold["fold"].to_list()) == [0, 1, 2]
    assert all(s.to_list() == [1, 2] for s in per_fold["step"])
    tl = curves.filter((pl.col("name") == "train_loss") & (pl.col("fold") == 0)).sort("step")["value"].to_list()
    assert tl[1] < tl[0]  # the loss falls
    # the cosine schedule ends at 0 after warmup; the head and backbone LRs are both logged
    lr = curves.filter((pl.col("name") == "lr") & (pl.col("fold") == 0)).sort("step")["value"].to_list()
    assert lr[-1] == pytest.approx(0.0, abs=1e-9) and lr[0] > 0


def test_run_artifacts_and_full_fit(fashion_run):
    import json

    from PIL import Image

    fold = fashion_run.path / "models" / "r0_f0_s42"
    full = fashion_run.path / "models" / "full_s42"
    for d in (fold, full):
        assert (d / "weights.safetensors").is_file() and (d / "model.json").is_file() and not (d / "weights.pt").exists()
    grid = Image.open(fold / "augmented_samples.png")
    assert grid.size == (3 * 32, 3 * 32)  # 8 samples of 32 px on a 3x3 tile
    worst = pl.read_csv(fold / "worst_predictions.csv")
    assert worst.height == 8 and worst["loss"].is_sorted(descending=True) and worst["image"][0].endswith(".png")
    meta = json.loads((full / "model.json").read_text())
    assert meta["epochs_trained"] == 2 and meta["model"] == "timm_image" and meta["aux_out"] == [1]
    assert fashion_run.metrics["full_fit"] is True
    test = fashion_run.test()
    assert test.height == 200 and np.allclose(test.select(pl.exclude("id")).to_numpy().sum(axis=1), 1.0, atol=1e-5)


def test_saved_model_reloads_and_reproduces_test_predictions(fashion_run):
    from medalist.models import load_model

    model = load_model(fashion_run.path / "models" / "full_s42")
    ids = fashion_run.test().select("id")
    cwd = os.getcwd()
    os.chdir(fashion_run.path.parents[1])
    try:
        pred = model.predict(ids)
    finally:
        os.chdir(cwd)
    expected = fashion_run.test().select(pl.exclude("id")).to_numpy()
    assert pred.shape == (200, 10)
    np.testing.assert_allclose(pred, expected, atol=1e-5)


def test_metrics_json_carries_each_folds_epoch_selection(fashion_run, fashion_ws, monkeypatch, capsys):
    """Each fold's metrics.json entry names the epoch its model kept and the rule, as model.json does;
    ``medalist runs``/``show`` and the report read such a run."""
    from medalist.report.html import build_report
    from tests.conftest import run_medalist

    m = fashion_run.metrics
    for f in m["folds"]:
        meta = json.loads((fashion_run.path / "models" / f"r0_f{f['fold']}_s42" / "model.json").read_text())["selection"]
        assert f["selection"] == [{"seed": 42, "select": "last", "split": "fold", "criterion": meta["criterion"],
                                   "selected_epoch": 2, "validated_epochs": 2}], f["selection"]
        assert meta["selected_epoch"] == 2 and f["best_iterations"] == [2]
    assert m["selection"] == {"select": "last", "split": "fold", "selected_epochs": [2, 2, 2], "optimism_mean": None}
    code, out, err = run_medalist(monkeypatch, capsys, "show", fashion_run.id)
    assert code == 0 and "epoch selection: last on fold rows, kept epochs [2, 2, 2]" in out, (out, err)
    code, out, err = run_medalist(monkeypatch, capsys, "runs", "--json")
    assert code == 0 and fashion_run.id in out, err
    res = build_report(fashion_ws, [fashion_run.id], fashion_ws.root / "report.html")
    assert Path(res["path"]).is_file()


def test_image_oof_feeds_a_gbdt_through_oof_feature(fashion_run, fashion_ws):
    from medalist.cv.runner import train

    cfg = Path("configs/stack.yaml")
    cfg.write_text(f"""
model:
  name: lightgbm
  params: {{learning_rate: 0.1, num_leaves: 7, min_child_samples: 10, verbosity: -1}}
  early_stopping_rounds: 10
  num_boost_round: 50
columns: {{keep: [is_top]}}
features: [{{block: oof_feature, run: {fashion_run.id}}}]
threads: 1
""")
    run = train(fashion_ws, cfg, tracking=False)
    # measured 0.7506 from an input run scoring 0.7767 (10 class probabilities, 50 rounds); identical runs
    # gave 0.724 on 2026-12-02 (the image run is not bit-reproducible on CPU): margin 0.05
    assert run.metrics["oof"] > 0.7506 - 0.05, run.metrics["oof"]
    assert run.metrics["oof"] > fashion_run.metrics["oof"] - 0.05  # the GBDT keeps most of what the image run found
    imp = pl.read_parquet(run.path / "importance.parquet")
    assert imp.height == 10 and imp["feature"].str.starts_with("oof_" + fashion_run.id.replace("-", "_")).all()


def test_pseudo_labels_add_confident_test_rows_to_training_only(fashion_run, fashion_ws):
    from medalist.core.config import ColumnsConfig
    from medalist.models import FitContext, create_model
    from medalist.workspace.data import load_competition_data

    data = load_competition_data(fashion_ws, ColumnsConfig(keep=["is_top"]))
    params = {"backbone": "test_efficientnet", "lr": 0.01, "in_chans": 1, "img_size": 32, "epochs": 1, "batch_size": 64, "log_samples": 0,
              "images": {"pattern": "{id}.png", "dirs": ["data/images"]},
              "pseudo_label": {"run": fashion_run.id, "min_confidence": 0.8, "soft": False}}
    model = create_model("timm_image", params)
    tr, va = data.train[:300], data.train[300:400]
    curve: list = []
    ctx = FitContext(task="multiclass", target=["label"], features=[], n_classes=10, seed=0,
                     log=lambda n, v, s: curve.append((n, v, s)))
    model.fit(tr, va, ctx)
    test_pred = fashion_run.test().select(pl.exclude("id")).to_numpy()
    assert model.n_pseudo_ == int((test_pred.max(axis=1) >= 0.8).sum()) > 0
    # validation stays the labelled rows only
    assert model.worst_ is None or model.worst_["row"].max() < va.height
    assert model.predict(va).shape == (100, 10)
