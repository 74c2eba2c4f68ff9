"""Learning curves in the report: the run's metric (or its loss) is plotted, train curves are found under
their real names, and the reading is right for GBDT (boosting rounds), image and signal (epoch) runs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from medalist.report.curves import curve_reading, curves_section
from medalist.report.plots import Figs
from medalist.runs.store import Run


@dataclass
class CurvesRun:
    """What curves_section reads of a run: its id, folder (curves.parquet) and metrics.json."""

    id: str
    path: Path
    metrics: dict = field(default_factory=dict)


def _write_curves(path: Path, curves: dict[str, list[float]], folds: int = 2) -> None:
    rows = []
    for fold in range(folds):
        for name, values in curves.items():
            for i, v in enumerate(values):
                rows.append({"repeat": 0, "fold": fold, "seed": 42, "name": name, "step": i + 1, "value": float(v) * (1 + 0.01 * fold)})
    path.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows).write_parquet(path / "curves.parquet")


def _section(tmp_path, curves, metric, direction="minimize") -> str:
    run = CurvesRun("img-001", tmp_path / "img-001", {"metric": metric, "direction": direction})
    _write_curves(run.path, curves)
    return str(curves_section(None, run, None, [], Figs()))


# An image run as issue 24 saw it: the valid loss fell 1.59 -> 0.31 over 8 epochs, train_loss logged,
# an aux count (valid_bad_images) sorting first among the valid curves.
IMAGE = {
    "train_loss": [2.1, 1.2, 0.8, 0.55, 0.42, 0.35, 0.30, 0.27],
    "valid_bad_images": [0, 0, 0, 0, 0, 0, 0, 0],
    "valid_loss": [1.59, 0.95, 0.66, 0.49, 0.40, 0.35, 0.32, 0.31],
    "valid_mlogloss": [1.59, 0.95, 0.66, 0.49, 0.40, 0.35, 0.32, 0.31],
    "lr": [0.01] * 8,
}


def test_image_run_reads_its_loss_curves_not_an_aux_count(tmp_path):
    html = _section(tmp_path, IMAGE, "mlogloss")
    assert 'data-verdict="good fit"' in html
    assert "underfitting" not in html and "train curve not logged" not in html and "valid_bad_images" not in html
    assert "train curve: logged as train_loss" in html and "(valid_loss)" in html
    assert "valid improves from 1.59 to 0.31 (best at epoch 8) and is still improving at the last epoch: more epochs may help, train improves too" in html


def test_image_run_overfitting_past_an_epoch(tmp_path):
    over = dict(IMAGE, valid_loss=[1.59, 0.9, 0.6, 0.52, 0.55, 0.62, 0.71, 0.80])
    html = _section(tmp_path, over, "accuracy", "maximize")
    assert 'data-verdict="overfitting"' in html
    assert "valid is best at epoch 4 (0.52) and worse by the last epoch (0.8) while train keeps improving" in html


def test_signal_run_with_its_metric_on_train_and_valid(tmp_path):
    """A signal run that logs its metric (AUC, higher is better) on both sides: that pair is read."""
    curves = {"train_loss": [0.69, 0.5, 0.4, 0.3, 0.2, 0.15], "valid_loss": [0.69, 0.6, 0.55, 0.54, 0.54, 0.545],
              "train_auc": [0.55, 0.7, 0.8, 0.88, 0.93, 0.96], "valid_auc": [0.55, 0.66, 0.71, 0.72, 0.722, 0.721]}
    html = _section(tmp_path, curves, "auc", "maximize")
    assert "curve: the run&#39;s metric (auc), logged on train and valid (valid_auc); train curve: logged as train_auc" in html
    assert 'data-verdict="good fit"' in html
    assert "valid improves from 0.55 to 0.722 (best at epoch 5) and is flat after it, train improves too" in html


def test_flat_curves_are_underfitting_with_a_self_contained_text(tmp_path):
    curves = {"train_loss": [0.6931] * 6, "valid_loss": [0.6931, 0.6932, 0.6931, 0.6930, 0.6931, 0.6931]}
    html = _section(tmp_path, curves, "logloss")
    assert 'data-verdict="underfitting"' in html
    assert "the model learns nothing — usually a bug in the inputs, target or pre/post-processing" in html
    assert "§" not in html and "TECHNIQUES" not in html


def test_gbdt_names_training_and_valid_per_boosting_round():
    s = np.arange(1, 121)
    valid = 0.45 + 0.3 * np.exp(-s / 15) + 0.0004 * np.maximum(s - 100, 0)  # early stopping's 20 extra rounds
    r = curve_reading(0.6 * np.exp(-s / 30), valid, s, lower_is_better=True, unit="boosting round")
    assert r["verdict"] == "good fit" and r["best_step"] == 100
    assert r["text"] == "valid improves from 0.7307 to 0.4504 (best at boosting round 100) and is flat after it, train improves too"


def test_gbdt_run_on_real_data_reads_boosting_rounds(trained_ws):
    """covid_testing, LightGBM with early stopping: valid AUC logged, train AUC recomputed from the fold models."""
    from medalist.report.data import load_data
    from medalist.workspace.folds import Folds

    run = Run.open(trained_ws, "fast-001")
    data = load_data(trained_ws, run)
    splits = Folds.load(trained_ws.folds_path).splits(data.train)
    html = str(curves_section(trained_ws, run, data, splits, Figs()))
    assert "curve: the run&#39;s metric (auc) on valid (valid/auc); train curve: recomputed from the saved fold models" in html
    texts = re.findall(r"<li>fold (\d+): <b>([a-z ]+)</b> — ([^<]+)</li>", html)
    assert len(texts) == 3
    for _, verdict, text in texts:
        assert verdict in ("good fit", "overfitting") and "boosting round" in text and "epoch" not in text
        assert "underfitting" not in text and "train curve not logged" not in text


IMG_CONFIG = """\
model:
  name: timm_image
  params:
    backbone: test_efficientnet
    lr: 0.01
    in_chans: 1
    img_size: 32
    epochs: 3
    batch_size: 64
    images: {pattern: "{id}.png", dirs: [data/images]}
    aux: [{col: is_top, loss: bce, weight: 0.1}]
columns: {keep: [is_top]}
threads: 1
seeds: [42]
"""


@pytest.mark.slow
def test_real_image_run_reads_its_loss_per_epoch(tmp_path, monkeypatch):
    """Fashion-MNIST (Debian's dataset-fashion-mnist), timm's tiny test_efficientnet, 3 epochs: the report
    reads train_loss / valid_loss per epoch (not valid_bad_images, not an aux curve) and the loss fell."""
    for pkg in ("torch", "timm", "lightning", "albumentations"):
        pytest.importorskip(pkg, reason="pip install 'medalist[vision]'")
    from medalist.datasets.fashion import FASHION_DIR, make_fashion_workspace

    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST missing: apt-get install -y dataset-fashion-mnist")
    from medalist.cv.runner import train
    from medalist.workspace.paths import Workspace

    root = tmp_path / "fashion"
    make_fashion_workspace(root, n_train=900, n_test=100, k=3)
    monkeypatch.chdir(root)
    (root / "configs" / "img.yaml").write_text(IMG_CONFIG)
    ws = Workspace.open(root)
    ws.config.tracking = "none"
    ws.save_config()
    train(ws, root / "configs" / "img.yaml", tracking=False)
    run = Run.open(ws, "img-001")
    names = set(pl.read_parquet(run.path / "curves.parquet").get_column("name").to_list())
    assert {"train_loss", "valid_loss", "valid_bad_images"} <= names
    html = str(curves_section(ws, run, None, [], Figs()))
    assert "(valid_loss); train curve: logged as train_loss" in html
    texts = re.findall(r"<li>fold (\d+): <b>([a-z ]+)</b> — ([^<]+)</li>", html)
    assert len(texts) == 3
    for _, verdict, text in texts:
        assert verdict != "underfitting" and "epoch" in text and "boosting round" not in text, text
