"""``model: segmentation`` on real Fashion-MNIST tops placed on noise canvases (masks = their
silhouettes; 40% of canvases hold no garment): dice well above the all-empty
baseline, TTA flips inverted on masks, save/load, masks.npz, config errors."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import polars as pl
import pytest

from medalist.datasets.fashion import FASHION_DIR

for _pkg in ("torch", "timm", "lightning", "albumentations", "segmentation_models_pytorch"):
    if importlib.util.find_spec(_pkg) is None:
        pytest.skip(f"{_pkg} not installed: pip install 'medalist[vision]'", allow_module_level=True)
pytestmark = pytest.mark.skipif(not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file(),
                                reason="Fashion-MNIST missing: apt-get install -y dataset-fashion-mnist")

PARAMS = {"backbone": "test_efficientnet", "arch": "Unet", "encoder_depth": 3, "decoder_channels": [32, 16, 8], "in_chans": 1,
          "img_size": 32, "epochs": 2, "batch_size": 32, "lr": 0.003, "images": {"pattern": "{id}.png"},
          "masks": {"rle": "rle"}, "seg_loss": {"bce": 1.0, "dice": 1.0}, "tta": {"hflip": True}, "oof_size": 16}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    import torch
    from PIL import Image

    from medalist.datasets.garments import garment_canvases
    from medalist.models import FitContext, create_model
    from medalist.postprocess.rle import rle_encode

    root = tmp_path_factory.mktemp("garments")
    imgs, masks, _ = garment_canvases(300, size=32, positive=0.6, seed=0, distractors=False)
    for i, im in enumerate(imgs):
        Image.fromarray(im).save(root / f"g{i}.png")
    frame = pl.DataFrame({"id": [f"g{i}" for i in range(300)], "rle": [rle_encode(m) for m in masks],
                          "has": masks.reshape(300, -1).any(1).astype(int)})
    cwd, threads = os.getcwd(), torch.get_num_threads()
    os.chdir(root)
    torch.set_num_threads(2)
    try:
        model = create_model("segmentation", PARAMS)
        model.fit(frame[:220], frame[220:], FitContext(task="binary", target=["has"], features=[], seed=0, threads=2))
        yield model, frame, masks, root
    finally:
        torch.set_num_threads(threads)
        os.chdir(cwd)


def test_dice_well_above_all_empty(fitted):
    from medalist.postprocess.masks import dice_per_image

    model, frame, masks, _ = fitted
    probs = model.predict_masks(frame[220:])
    truth = masks[220:]
    dice = dice_per_image(truth, probs >= 0.5).mean()
    empty = dice_per_image(truth, np.zeros_like(truth)).mean()
    # measured: dice 0.904 after 2 epochs vs all-empty 0.425 (the share of empty masks); margin 0.05
    assert empty < 0.45 and dice > 0.85, (dice, empty)
    score = model.predict(frame[220:])  # the non-empty score: AUC against "has a mask"
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(frame[220:]["has"], score) > 0.8
    h = model.history_
    assert [r["epoch"] for r in h] == [1, 2] and {"train_loss", "valid_loss", "valid_dice", "lr"} <= set(h[-1])


def test_tta_flip_is_inverted_on_masks(fitted, tmp_path):
    from PIL import Image

    model, _, _, root = fitted
    img = np.asarray(Image.open(root / "g3.png"))
    Image.fromarray(img[:, ::-1].copy()).save(root / "flipped.png")
    both = pl.DataFrame({"id": ["g3", "flipped"], "rle": ["-1", "-1"], "has": [0, 0]})
    p = model.predict_masks(both)
    # mean over {identity, hflip}, each flipped back: the flipped image's mask is the mirror of the original's
    np.testing.assert_allclose(p[1], p[0][:, ::-1], atol=1e-5)


def test_save_load_same_masks_and_compact_oof(fitted, tmp_path):
    from medalist.models import load_model

    model, frame, _, _ = fitted
    model.__dict__["_mask_log"] = []
    score = model.predict(frame[220:240])
    model.save(tmp_path / "m")
    z = np.load(tmp_path / "m" / "masks.npz")
    assert z["probs"].shape == (20, 16, 16) and z["probs"].dtype == np.uint8 and z["ids"][0] == "g220"
    again = load_model(tmp_path / "m")
    np.testing.assert_allclose(again.predict(frame[220:240]), score, atol=1e-5)


def test_config_errors():
    from medalist.core.errors import ConfigError
    from medalist.models import FitContext, create_model

    with pytest.raises(ConfigError, match="seg_loss"):
        create_model("segmentation", {**PARAMS, "seg_loss": {"focal": 1.0}})
    with pytest.raises(ConfigError, match="backbone"):
        create_model("segmentation", {**PARAMS, "backbone": "resnet_nope"})
    with pytest.raises(ConfigError, match="id_col.*'ImageId', not a column"):
        create_model("segmentation", {**PARAMS, "id_col": "ImageId"}).fit(
            pl.DataFrame({"id": ["a"], "rle": ["-1"], "has": [0]}), None, FitContext(task="binary", target=["has"], features=[]))
    with pytest.raises(ConfigError, match="masks"):
        create_model("segmentation", {**PARAMS, "masks": {"rle": "a", "npy": "b.npy", "key": "k"}}).p.masks.kind()


@pytest.mark.parametrize("arch", ["Unet", "UnetPlusPlus", "FPN", "DeepLabV3Plus"])
def test_each_architecture_gives_one_logit_per_pixel(arch):
    import torch

    from medalist.vision.segmentation import SegmentationParams, build_seg_net

    net = build_seg_net(SegmentationParams(arch=arch, backbone="test_efficientnet", encoder_depth=3, in_chans=1, img_size=32))
    assert tuple(net(torch.zeros(2, 1, 32, 32, dtype=torch.uint8)).shape) == (2, 1, 32, 32)


def test_weighted_loss_sum_of_bce_dice_lovasz():
    import torch

    from medalist.vision.segmentation import SegmentationParams, _losses

    p = SegmentationParams(backbone="test_efficientnet", seg_loss={"bce": 1.0, "dice": 0.5, "lovasz": 0.25})
    losses = _losses(p)
    assert [w for _, w in losses] == [1.0, 0.5, 0.25]
    mask = torch.zeros(2, 1, 8, 8)
    mask[0, 0, 2:5, 2:5] = 1
    good, bad = (mask * 20 - 10).requires_grad_(), (10 - mask * 20).requires_grad_()
    total = [sum(w * fn(x, mask) for fn, w in losses) for x in (good, bad)]
    assert float(total[0].detach()) < 0.3 < float(total[1].detach())  # right logits: small loss; inverted ones: large
    total[1].backward()
    assert good.grad is None and bad.grad is not None and torch.isfinite(bad.grad).all()
