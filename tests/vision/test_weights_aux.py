"""Per-sample loss weights (the experiment's ``weight:`` column) and string aux columns of image models."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
import torch

from medalist.core.errors import ConfigError, DataError
from medalist.models.protocol import FitContext
from medalist.vision.config import VisionParams
from medalist.vision.loaders import aux_classes, aux_values, aux_widths, sample_weights


def _module(aux=None):
    from medalist.vision.module import ImageModule
    from medalist.vision.net import build_net

    p = VisionParams(backbone="test_efficientnet", in_chans=1, img_size=32, aux=aux or [])
    return ImageModule(build_net(p, 1, [3] * len(p.aux)), p, "binary", "bce", p.aux)


def test_weighted_mean_and_its_gradient_are_exact():
    from medalist.vision.net import per_sample_loss

    module = _module()
    torch.manual_seed(0)
    logits = torch.randn(6, 1, requires_grad=True)
    target = torch.tensor([[1.0], [0.0], [1.0], [1.0], [0.0], [0.3]])  # soft label in the last row
    w = torch.tensor([1.0, 0.0, 2.0, 0.5, 0.0, 1.5])
    good = torch.tensor([True, True, True, True, True, False])
    loss, rows = module._losses("train", logits, [], target, None, good, w)
    rows = rows.detach()
    row = torch.nn.functional.binary_cross_entropy_with_logits(logits.detach(), target, reduction="none")[:, 0]
    wg = w * good
    assert float(loss.detach()) == pytest.approx(float((row * wg).sum() / wg.sum()), rel=1e-6)
    assert torch.allclose(rows, row * good)  # the per-row losses (worst-rows report) stay unweighted
    loss.backward()
    # d loss / d logit_i = w_i / Σw · (sigmoid(logit_i) − y_i): weight 0 rows (and bad images) get no gradient
    expect = wg / wg.sum() * (torch.sigmoid(logits.detach()[:, 0]) - target[:, 0])
    assert torch.allclose(logits.grad[:, 0], expect, atol=1e-7)
    assert logits.grad[1, 0] == 0 and logits.grad[4, 0] == 0 and logits.grad[5, 0] == 0
    # no weights: the plain mean over good rows, as before
    plain, _ = module._losses("train", logits.detach(), [], target, None, good, None)
    assert float(plain) == pytest.approx(float(row[:5].mean()), rel=1e-6)
    same, _ = module._losses("train", logits.detach(), [], target, None, good, torch.full((6,), 3.0))
    assert float(same) == pytest.approx(float(plain), rel=1e-6)  # only relative weights matter
    assert float(per_sample_loss(logits.detach(), target, "binary", "bce").mean()) > 0


def test_sample_weights_are_checked():
    ctx = FitContext(task="binary", target=["y"], features=[], weight="w")
    frame = pl.DataFrame({"y": [0, 1, 1], "w": [1.0, 0.0, 2.5]})
    assert sample_weights(ctx, frame, "training rows").tolist() == [1.0, 0.0, 2.5]
    assert sample_weights(FitContext(task="binary", target=["y"], features=[]), frame, "rows") is None
    with pytest.raises(DataError, match=r"weight column 'w'.*finite weights >= 0.*1 negative"):
        sample_weights(ctx, frame.with_columns(pl.Series("w", [1.0, -1.0, 2.0])), "training rows")
    with pytest.raises(DataError, match="every weight 0"):
        sample_weights(ctx, frame.with_columns(pl.lit(0.0).alias("w")), "training rows")


def test_string_aux_column_becomes_class_index_and_unknown_is_masked():
    p = VisionParams(aux=[{"col": "site", "loss": "ce"}, {"col": "sex", "loss": "bce"}, {"col": "age", "loss": "mse"}])
    train = pl.DataFrame({"site": ["torso", "head", None, "torso"], "sex": ["m", "f", "f", None],
                          "age": [30.0, None, 55.0, 40.0]})
    classes = aux_classes(p, train)
    assert classes == {"site": ["head", "torso"], "sex": ["f", "m"]}  # numeric 'age' is used as it is
    vals = aux_values(p, train, "training rows", classes)
    np.testing.assert_array_equal(vals[:, 0], [1, 0, np.nan, 1])
    np.testing.assert_array_equal(vals[:, 1], [1, 0, 0, np.nan])
    np.testing.assert_array_equal(vals[:, 2], [30, np.nan, 55, 40])
    assert aux_widths(p, vals, classes) == [2, 1, 1]
    valid = pl.DataFrame({"site": ["palms", "head"], "sex": ["m", "x"], "age": [1.0, 2.0]})
    v = aux_values(p, valid, "validation rows", classes)
    assert np.isnan(v[0, 0]) and v[1, 0] == 0 and v[0, 1] == 1 and np.isnan(v[1, 1])  # unknown -> NaN (masked)
    # the same columns through a categorical dtype encode the same way
    cat = train.with_columns(pl.col("site").cast(pl.Categorical))
    assert aux_classes(p, cat)["site"] == ["head", "torso"]


@pytest.mark.parametrize("loss,match", [
    ("mse", r"aux 'site'.*numbers for loss 'mse'.*dtype String with 3 values.*use loss: ce"),
    ("bce", r"aux 'site'.*at most two values for loss 'bce'.*dtype String with 3 values"),
])
def test_string_aux_column_that_cannot_be_encoded_is_refused(loss, match):
    p = VisionParams(aux=[{"col": "site", "loss": loss}])
    with pytest.raises(ConfigError, match=match):
        aux_classes(p, pl.DataFrame({"site": ["a", "b", "c"]}))
    with pytest.raises(ConfigError, match=r"aux 'when'.*numeric, boolean, string or categorical.*dtype Date"):
        aux_classes(VisionParams(aux=[{"col": "when"}]), pl.DataFrame({"when": [date(2024, 1, 1)]}))


def _tiny_images(tmp_path, n=24):
    from PIL import Image

    (tmp_path / "img").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(tmp_path / "img" / f"{i}.png")
    sites = ["head", "torso", "leg"]
    return pl.DataFrame({"id": np.arange(n), "y": np.arange(n) % 2, "w": np.linspace(0.0, 2.0, n),
                         "site": [sites[i % 3] for i in range(n)]})


def test_string_aux_mapping_and_weights_round_trip_through_save_load(tmp_path, monkeypatch):
    from medalist.models.registry import create_model

    monkeypatch.chdir(tmp_path)
    frame = _tiny_images(tmp_path)
    m = create_model("timm_image", {"backbone": "test_efficientnet", "in_chans": 1, "img_size": 32, "epochs": 1,
                                    "batch_size": 8, "images": {"pattern": "{id}.png", "dirs": ["img"]},
                                    "aux": [{"col": "site", "loss": "ce", "weight": 0.5}]})
    ctx = FitContext(task="binary", target=["y"], features=[], weight="w", threads=1)
    m.fit(frame, frame, ctx)
    assert m.aux_classes_ == {"site": ["head", "leg", "torso"]} and m.aux_out_ == [3]
    hist = m.history_[-1]
    assert np.isfinite(hist["train_aux_site_loss"]) and np.isfinite(hist["valid_loss"])
    m.save(tmp_path / "m")
    loaded = type(m).load(tmp_path / "m")
    assert loaded.aux_classes_ == m.aux_classes_ and loaded.aux_out_ == [3]
    new = pl.DataFrame({"site": ["leg", "arm", "torso"]})
    np.testing.assert_array_equal(loaded._aux_values(new, "rows")[:, 0], [1, np.nan, 2])
    np.testing.assert_allclose(loaded.predict(frame), m.predict(frame), atol=1e-5)


@pytest.mark.slow
def test_weight_zero_on_flipped_fashion_labels_beats_training_on_them(tmp_path, monkeypatch):
    """Fashion-MNIST pullover (2) vs shirt (6), 30% of training labels flipped: weight 0 on the flipped
    rows must beat learning from them, on clean validation images."""
    from PIL import Image
    from sklearn.metrics import roc_auc_score

    from medalist.datasets.fashion import FASHION_DIR, load_fashion_mnist
    from medalist.models.registry import create_model

    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST missing: apt-get install -y dataset-fashion-mnist")
    monkeypatch.chdir(tmp_path)
    x, y = load_fashion_mnist("train")
    rows = np.flatnonzero((y == 2) | (y == 6))[:1000]
    (tmp_path / "img").mkdir()
    for i in rows:
        Image.fromarray(x[i]).save(tmp_path / "img" / f"{i}.png")
    label = (y[rows] == 6).astype(int)
    rng = np.random.default_rng(0)
    tr, va = np.arange(700), np.arange(700, 1000)
    flip = rng.random(len(tr)) < 0.3
    train = pl.DataFrame({"id": rows[tr], "y": np.where(flip, 1 - label[tr], label[tr]), "w": np.where(flip, 0.0, 1.0)})
    valid = pl.DataFrame({"id": rows[va], "y": label[va]})
    params = {"backbone": "test_efficientnet", "in_chans": 1, "img_size": 32, "epochs": 3, "batch_size": 32, "lr": 0.01,
              "images": {"pattern": "{id}.png", "dirs": ["img"]}}
    auc = {}
    for name, weight in (("weighted", "w"), ("unweighted", None)):
        m = create_model("timm_image", params)
        m.fit(train, None, FitContext(task="binary", target=["y"], features=[], weight=weight, threads=1, seed=0))
        auc[name] = roc_auc_score(valid["y"], m.predict(valid))
    # measured (3 epochs, 700 training images, one CPU thread): weighted 0.875, unweighted 0.736
    assert auc["weighted"] > 0.84 and auc["weighted"] - auc["unweighted"] > 0.08, auc
