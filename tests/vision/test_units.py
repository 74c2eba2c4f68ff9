"""Building blocks of the image pipeline, without a dataset: transforms, schedule, sampler, mixing,
losses, heads, params and the errors they raise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medalist.core.errors import ConfigError


def test_spec_augment_zeroes_one_band_of_rows_and_columns_within_alpha():
    from medalist.vision.augment import build_pipeline

    pipe = build_pipeline([{"name": "SpecAugment", "alpha": 0.1, "p": 1.0}], (100, 200))
    widths = []
    for _ in range(30):
        out = pipe(np.full((100, 200, 1), 255, np.uint8))[:, :, 0]
        zero_rows = np.flatnonzero((out == 0).all(axis=1))
        zero_cols = np.flatnonzero((out == 0).all(axis=0))
        assert len(zero_rows) <= 10 and len(zero_cols) <= 20  # width <= alpha * size
        for band in (zero_rows, zero_cols):
            if len(band):
                assert np.all(np.diff(band) == 1)  # one contiguous band
        assert (out > 0).any()
        widths.append(len(zero_rows) + len(zero_cols))
    assert max(widths) > 0


def test_pipeline_from_yaml_items_and_resize():
    from medalist.vision.augment import build_pipeline, build_transforms

    ts = build_transforms(["VerticalFlip", {"HorizontalFlip": {"p": 0.25}}, {"name": "SpecAugment"}])
    assert [type(t).__name__ for t in ts] == ["VerticalFlip", "HorizontalFlip", "SpecAugment"]
    assert ts[1].p == 0.25
    img = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    assert build_pipeline([{"name": "HorizontalFlip", "p": 1.0}], (3, 4))(img)[0, :, 0].tolist() == [3, 2, 1, 0]
    assert build_pipeline([], (8, 6))(img).shape == (8, 6, 1)


def test_unknown_transform_and_bad_params_are_config_errors():
    from medalist.vision.augment import build_transforms

    with pytest.raises(ConfigError, match=r"augment\[0\].*HorizontalFlip"):
        build_transforms([{"name": "HorizontalFlp"}])
    with pytest.raises(ConfigError, match=r"augment\[1\].*parameters HorizontalFlip accepts"):
        build_transforms(["VerticalFlip", {"name": "HorizontalFlip", "p": 3}])
    with pytest.raises(ConfigError, match="transform name"):
        build_transforms([42])


def test_tta_coverage_formula():
    from medalist.vision.augment import random_probabilities, tta_coverage

    assert tta_coverage(16, [0.5] * 4) == pytest.approx((1 - 0.5 ** 16) ** 4)
    assert round(tta_coverage(16, [0.5] * 4), 2) == 0.99 or tta_coverage(16, [0.5] * 4) > 0.99
    assert round(tta_coverage(4, [0.5] * 4), 2) == 0.77
    spec = [{"name": "HorizontalFlip", "p": 0.5}, {"name": "VerticalFlip", "p": 1.0}, {"name": "SpecAugment", "p": 0.5}]
    assert random_probabilities(spec) == [0.5, 0.5]


def test_cosine_schedule_with_warmup():
    from medalist.vision.module import cosine_with_warmup

    f = cosine_with_warmup(200, 0.1)
    vals = [f(s) for s in range(201)]
    assert vals[0] == 0 and vals[20] == pytest.approx(1.0) and vals[200] == pytest.approx(0.0, abs=1e-12)
    assert all(a <= b for a, b in zip(vals[:20], vals[1:21]))  # warmup rises
    assert all(a >= b for a, b in zip(vals[20:], vals[21:]))  # cosine falls


def test_negative_downsampling_is_redrawn_every_epoch():
    from medalist.vision.data import NegativeDownsampler

    labels = np.r_[np.ones(10), np.zeros(990)]
    s = NegativeDownsampler(labels, ratio=20, seed=1)
    e1, e2 = list(s), list(s)
    assert len(s) == len(e1) == 210
    assert set(range(10)) <= set(e1) and set(range(10)) <= set(e2)  # every positive, every epoch
    assert set(e1) != set(e2)  # a fresh draw of negatives
    assert sum(labels[i] for i in e1) == 10
    again = NegativeDownsampler(labels, ratio=20, seed=1)
    assert list(again) == e1  # reproducible by seed


def test_mixup_and_cutmix_mix_targets_with_the_image_weights():
    from medalist.vision.augment import mix_batch
    from medalist.vision.config import MixConfig

    g = torch.Generator().manual_seed(0)
    x = torch.stack([torch.zeros(1, 8, 8), torch.ones(1, 8, 8)])
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    for cfg in (MixConfig(mixup_alpha=0.4), MixConfig(cutmix_alpha=1.0)):
        for _ in range(5):
            xm, (tm,), perm = mix_batch(x, [t], cfg, g)
            assert perm is not None
            # the share of each source image in the pixels equals its share in the target
            share_of_ones = xm.mean(dim=(1, 2, 3))
            np.testing.assert_allclose(share_of_ones.numpy(), tm[:, 1].numpy(), atol=1e-6)
            np.testing.assert_allclose(tm.sum(1).numpy(), 1.0, atol=1e-6)
    xm, tm, perm = mix_batch(x, [t], MixConfig(mixup_alpha=0.4, prob=0.0), g)
    assert perm is None and xm is x


@pytest.mark.parametrize("task,loss,width", [
    ("binary", "ce", 1), ("binary", "bce", 1), ("binary", "focal", 1), ("binary", "kl", 1),
    ("multiclass", "ce", 4), ("multiclass", "focal", 4), ("multiclass", "kl", 4),
    ("multilabel", "bce", 3), ("multilabel", "focal", 3), ("regression", "mse", 1), ("regression", "l1", 1),
])
def test_every_loss_trains_its_head(task, loss, width):
    from medalist.vision.net import logits_to_pred, n_outputs, per_sample_loss

    torch.manual_seed(0)
    n = 32
    if task == "multiclass":
        target = torch.eye(width)[torch.randint(0, width, (n,))]
    elif task == "regression":
        target = torch.randn(n, 1)
    else:
        target = torch.randint(0, 2, (n, width)).float()
    logits = torch.zeros(n, n_outputs(task, loss, width), requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.5)
    first = None
    for _ in range(100):
        value = per_sample_loss(logits, target, task, loss).mean()
        first = first if first is not None else float(value.detach())
        opt.zero_grad()
        value.backward()
        opt.step()
    last = float(value.detach())
    assert last < 0.5 * first or last < 1e-3
    pred = logits_to_pred(logits.detach(), task, loss)
    if task in ("binary", "multiclass", "multilabel"):
        # predictions agree with the labels the head was trained on
        assert ((pred > 0.5).float() == target.squeeze(1) if task == "binary" else (pred > 0.5).float() == target).all()


def test_loss_task_mismatch_is_a_config_error():
    from medalist.vision.net import per_sample_loss

    with pytest.raises(ConfigError, match="one of mse, l1 for a regression task"):
        per_sample_loss(torch.zeros(2, 1), torch.zeros(2, 1), "regression", "ce")


def test_aux_loss_ignores_unknown_values():
    from medalist.vision.net import aux_loss

    per, mask = aux_loss(torch.zeros(3, 1), torch.tensor([1.0, float("nan"), 0.0]), "bce")
    assert mask.tolist() == [True, False, True] and per[1] == 0 and torch.isfinite(per).all()


def test_gem_between_average_and_max():
    from medalist.vision.net import GeM

    x = torch.rand(2, 3, 5, 5)
    g = GeM(p=3.0)(x)
    avg, mx = x.mean(dim=(2, 3)), x.amax(dim=(2, 3))
    assert g.shape == (2, 3) and (g >= avg - 1e-6).all() and (g <= mx + 1e-6).all()


def test_unknown_backbone_lists_close_timm_names():
    from medalist.vision.net import check_backbone

    with pytest.raises(ConfigError, match=r"backbone.*'convnext_tiniest'.*close matches: .*convnext_tiny"):
        check_backbone("convnext_tiniest")


def test_network_heads_channels_and_local_pretrained_weights(tmp_path):
    from medalist.vision.config import VisionParams
    from medalist.vision.net import build_net

    p = VisionParams(backbone="resnet10t", in_chans=5, pool="avg")
    net = build_net(p, n_out=2, aux_out=[1, 4])
    out, aux = net(torch.randint(0, 255, (2, 5, 32, 32), dtype=torch.uint8))
    assert out.shape == (2, 2) and [a.shape for a in aux] == [(2, 1), (2, 4)]
    # a local weights file (no download): timm adapts the first conv from 3 to 5 channels
    import timm

    src = timm.create_model("resnet10t", pretrained=False, num_classes=7)
    path = tmp_path / "w.pth"
    torch.save(src.state_dict(), path)
    loaded = build_net(VisionParams(backbone="resnet10t", in_chans=5, pretrained=str(path)), n_out=2, aux_out=[])
    w_src = src.state_dict()["layer1.0.conv1.weight"]
    assert torch.equal(loaded.backbone.state_dict()["layer1.0.conv1.weight"], w_src)
    with pytest.raises(ConfigError, match="no such file"):
        build_net(VisionParams(backbone="resnet10t", pretrained=str(tmp_path / "nope.pth")), 2, [])


def test_community_defaults():
    from medalist.vision.config import VisionParams

    cnn, vit = VisionParams(backbone="tf_efficientnet_b0"), VisionParams()
    assert cnn.resolved_lr() == 1e-3 and vit.backbone == "convnext_base" and vit.resolved_lr() == 1e-4
    assert VisionParams(backbone="swin_base_patch4_window7_224").resolved_lr() == 1e-4
    assert vit.pool == "gem" and vit.resolved_loss("binary") == "ce" and vit.warmup > 0
    isic = VisionParams(backbone="resnet18", lr=2e-5, head_lr=2e-4)
    assert (isic.resolved_lr(), isic.resolved_head_lr()) == (2e-5, 2e-4)
    with pytest.raises(ConfigError, match="unknown key 'backbon'"):
        VisionParams.parse({"backbon": "resnet18"})


def test_maxvit_defaults_to_fp32():
    from medalist.vision.model import TimmImageModel

    assert TimmImageModel({"backbone": "maxvit_tiny_tf_224"})._precision() == "32-true"


def test_pseudo_label_selection():
    from medalist.vision.pseudo import select_pseudo_labels

    p = np.array([[0.95, 0.05, 0.0], [0.4, 0.3, 0.3], [0.0, 0.1, 0.9]])
    mask, soft = select_pseudo_labels(p, "multiclass", 0.9, soft=True)
    assert mask.tolist() == [True, False, True] and np.allclose(soft, p[[0, 2]])
    _, hard = select_pseudo_labels(p, "multiclass", 0.9, soft=False)
    assert hard.tolist() == [[1, 0, 0], [0, 0, 1]]
    with pytest.raises(ConfigError, match="regression"):
        select_pseudo_labels(np.zeros(3), "regression", 0.9, True)


def test_columns_keep_passes_raw_columns_beside_features():
    import polars as pl

    from medalist.core.config import ColumnsConfig, CompetitionConfig
    from medalist.workspace.data import prepare

    comp = CompetitionConfig(name="c", task="binary", metric="auc", id="id", target="y")
    train = pl.DataFrame({"id": [1, 2, 3], "y": ["a", "b", "a"], "path": ["1.png", "2.png", "3.png"], "aux": [0, 1, 0]})
    test = pl.DataFrame({"id": [4], "path": ["4.png"]})
    data = prepare(train, test, comp, ColumnsConfig(keep=["path", "aux"]))
    assert data.features == [] and data.train["path"].to_list() == ["1.png", "2.png", "3.png"]
    assert data.train["aux"].to_list() == [0, 1, 0] and data.test.columns == ["id", "path"]
    from medalist.core.errors import DataError

    with pytest.raises(DataError, match="kept column 'pth'"):
        prepare(train, test, comp, ColumnsConfig(keep=["pth"]))
    with pytest.raises(DataError, match="at least one feature column"):
        prepare(train.drop("path", "aux"), test, comp)
