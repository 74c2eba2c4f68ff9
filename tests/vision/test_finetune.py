"""Fine-tuning parts of the image trainer: freezing (stages, BatchNorm), layer-wise LR decay, the learned
resizer, GPU memory in the curves, timm's scheduler, and why mixup stays hand-written."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medalist.models.protocol import FitContext
from medalist.vision.config import VisionParams


def _batches(n: int = 32, size: int = 16, classes: int = 3, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(0, n, 8):
        y = torch.randint(0, classes, (8,), generator=g)
        out.append({"image": torch.randint(0, 255, (8, 1, size, size), generator=g, dtype=torch.uint8),
                    "target": torch.nn.functional.one_hot(y, classes).float(), "bad": torch.zeros(8, dtype=torch.bool),
                    "index": torch.arange(i, i + 8)})
    return out


def _tiny_fit(params: dict, monkeypatch=None, epochs: int = 1):
    """A real Lightning fit of resnet10t on random 16 px images; returns (module before/after state, module)."""
    from medalist.vision.module import ImageModule
    from medalist.vision.net import build_net
    from medalist.vision.trainer import build_trainer, quiet_lightning

    p = VisionParams.parse({"backbone": "resnet10t", "in_chans": 1, "img_size": 16, "epochs": epochs, "batch_size": 8,
                            "lr": 0.01, "channels_last": False, "accelerator": "cpu", **params})
    torch.manual_seed(0)
    net = build_net(p, 3, [])
    before = {k: v.detach().clone() for k, v in net.state_dict().items()}
    module = ImageModule(net, p, "multiclass", "ce", [], seed=0)
    ctx = FitContext(task="multiclass", target=["y"], features=[], n_classes=3)
    with quiet_lightning(1):
        trainer = build_trainer(p, epochs, "32-true", ctx, validate=False)
        trainer.fit(module, torch.utils.data.DataLoader(_batches(), batch_size=None))
    return before, module


def _changed(before: dict, net: torch.nn.Module, key: str) -> bool:
    return not torch.equal(before[key], net.state_dict()[key])


@pytest.mark.parametrize("params", [{"freeze_bn": True}, {"freeze": {"bn": True}}])
def test_freeze_bn_keeps_running_stats_through_training(params):
    before, module = _tiny_fit(params)
    net = module.net
    stats = [k for k in before if k.endswith(("running_mean", "running_var"))]
    assert len(stats) > 10
    assert not any(_changed(before, net, k) for k in stats)  # BatchNorm statistics fixed
    assert _changed(before, net, "backbone.layer1.0.conv1.weight")  # the convolutions still train
    # without the option the same fit moves them: the test can fail
    before2, module2 = _tiny_fit({})
    assert all(_changed(before2, module2.net, k) for k in stats if "running_mean" in k)


def test_freeze_stages_freezes_stem_and_first_stages_only():
    before, module = _tiny_fit({"freeze": {"stages": 2}})
    net = module.net
    assert not net.backbone.conv1[0].weight.requires_grad and not net.backbone.layer2[0].conv1.weight.requires_grad
    assert net.backbone.layer3[0].conv1.weight.requires_grad
    for k in ("backbone.conv1.0.weight", "backbone.layer1.0.conv1.weight", "backbone.layer2.0.bn1.running_mean",
              "backbone.layer2.0.conv2.weight"):
        assert not _changed(before, net, k), k
    for k in ("backbone.layer3.0.conv1.weight", "backbone.layer3.0.bn1.running_mean", "head.weight"):
        assert _changed(before, net, k), k


def test_freeze_more_stages_than_the_backbone_has_is_a_config_error():
    from medalist.core.errors import ConfigError
    from medalist.vision.net import build_net

    with pytest.raises(ConfigError, match="at most 4"):
        build_net(VisionParams(backbone="resnet10t", in_chans=1, freeze={"stages": 5}), 3, [])


def _reference_groups(net, lr_b, lr_h, wd):
    """The parameter grouping of configure_optimizers before timm's layer decay (the baseline)."""
    groups: dict = {}
    for name, param in net.named_parameters():
        if param.requires_grad:
            groups.setdefault((name.startswith("backbone."), param.ndim <= 1), []).append(param)
    return [{"ids": [id(q) for q in groups[k]], "lr": lr_b if k[0] else lr_h, "weight_decay": 0.0 if k[1] else wd}
            for k in sorted(groups, key=lambda k: (not k[0], k[1]))]


def test_optimizer_groups_without_decay_equal_the_plain_grouping():
    from medalist.vision.finetune import optimizer_groups
    from medalist.vision.net import build_net

    net = build_net(VisionParams(backbone="resnet10t", in_chans=1), 3, [1])
    got = optimizer_groups(net, 1e-3, 2e-3, 0.01)
    ref = _reference_groups(net, 1e-3, 2e-3, 0.01)
    assert [([id(q) for q in g["params"]], g["lr"], g["weight_decay"]) for g in got] == \
           [(g["ids"], g["lr"], g["weight_decay"]) for g in ref]


def test_layer_wise_lr_decay_scales_each_timm_block():
    from medalist.vision.finetune import optimizer_groups
    from medalist.vision.net import build_net

    net = build_net(VisionParams(backbone="resnet10t", in_chans=1), 3, [])
    groups = optimizer_groups(net, 1.0, 5.0, 0.01, lr_decay=0.5)
    by_id = {id(q): g["lr"] for g in groups for q in g["params"]}
    # resnet10t: stem, then one block per stage (layer1.0 … layer4.0): 5 timm layers
    b = net.backbone
    assert by_id[id(b.conv1[0].weight)] == 0.5 ** 4
    assert by_id[id(b.layer1[0].conv1.weight)] == 0.5 ** 3
    assert by_id[id(b.layer3[0].bn1.weight)] == 0.5 ** 1
    assert by_id[id(b.layer4[0].conv2.weight)] == 1.0
    assert by_id[id(net.head.weight)] == 5.0 and groups[0]["lr"] == 1.0 and groups[-1]["lr"] == 5.0
    assert len(by_id) == sum(1 for _ in net.parameters())  # every parameter in exactly one group
    nd = next(g for g in groups if any(q is b.layer4[0].bn1.weight for q in g["params"]))
    assert nd["weight_decay"] == 0.0 and "lr_scale" not in nd


def test_lr_decay_reaches_the_optimizer_in_a_fit():
    _, module = _tiny_fit({"lr_decay": 0.5, "warmup": 0.0})
    groups = module.optimizers().optimizer.param_groups
    assert sorted({round(g["initial_lr"], 12) for g in groups}) == [round(0.01 * 0.5 ** k, 12) for k in (4, 3, 2, 1, 0)]


def test_timm_scheduler_matches_the_cosine_formula():
    from medalist.vision.module import cosine_with_warmup
    from medalist.vision.schedule import warmup_cosine

    for total, warmup in ((200, 0.1), (37, 0.25), (10, 0.0)):
        params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
        opt = torch.optim.AdamW([{"params": [params[0]], "lr": 1e-4}, {"params": [params[1]], "lr": 3e-3}])
        s = warmup_cosine(opt, total, warmup)
        f = cosine_with_warmup(total, warmup)
        got = [[g["lr"] for g in opt.param_groups]]
        for k in range(1, total + 1):
            s.step_update(k)
            got.append([g["lr"] for g in opt.param_groups])
        ref = [[1e-4 * f(k), 3e-3 * f(k)] for k in range(total + 1)]
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-18)


def test_timm_mixup_cannot_replace_mix_batch():
    """timm.data.Mixup takes class indices of an even batch: soft/multilabel/regression targets, aux
    targets with NaN and odd batches (a last partial batch) need medalist's mix_batch."""
    from timm.data import Mixup

    from medalist.vision.augment import mix_batch
    from medalist.vision.config import MixConfig

    mix = Mixup(mixup_alpha=1.0, num_classes=3)
    soft = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.2, 0.2, 0.6]])
    _, mixed = mix(torch.zeros(4, 1, 8, 8), soft)  # soft targets are read as class indices: 12 "labels"
    assert tuple(mixed.shape) == (12, 3)
    with pytest.raises(AssertionError):
        mix(torch.zeros(3, 1, 8, 8), torch.tensor([0, 1, 2]))  # odd batch
    x, (t, _aux), perm = mix_batch(torch.rand(3, 1, 8, 8), [soft[:3], torch.tensor([[1.0], [float("nan")], [0.0]])],
                                  MixConfig(mixup_alpha=1.0), torch.Generator().manual_seed(0))
    assert perm is not None and torch.allclose(t.sum(1), torch.ones(3)) and x.shape == (3, 1, 8, 8)


def test_learned_resizer_sits_between_the_images_and_the_backbone():
    from medalist.vision.net import build_net

    p = VisionParams.parse({"backbone": "resnet10t", "in_chans": 1, "img_size": 40, "resizer": {"size": 24, "filters": 4}})
    net = build_net(p, 3, [])
    seen = []
    net.backbone.conv1.register_forward_pre_hook(lambda m, a: seen.append(tuple(a[0].shape)))  # the stem
    logits, _ = net(torch.zeros(2, 1, 40, 40))
    assert seen == [(2, 1, 24, 24)] and logits.shape == (2, 3)
    assert any(k.startswith("resizer.") for k in net.state_dict())
    plain = build_net(VisionParams(backbone="resnet10t", in_chans=1), 3, [])
    assert plain.resizer is None and not any(k.startswith("resizer.") for k in plain.state_dict())


def test_resizer_trains_in_a_fit():
    before, module = _tiny_fit({"resizer": {"size": 12, "filters": 4}})
    assert _changed(before, module.net, "resizer.tail.weight")


def test_gpu_memory_helper_reads_and_resets_the_cuda_peak(monkeypatch):
    from medalist.vision.memory import peak_gpu_memory_gb

    resets = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 3 * 2**30)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: resets.append(device))
    assert peak_gpu_memory_gb(torch.device("cuda")) == 3.0 and len(resets) == 1
    assert peak_gpu_memory_gb(torch.device("cpu")) is None


def test_gpu_memory_logged_per_epoch_when_on_cuda(monkeypatch):
    import medalist.vision.module as vm

    _, cpu = _tiny_fit({}, epochs=2)
    assert not any("gpu_mem_gb" in h for h in cpu.history)  # absent on CPU
    monkeypatch.setattr(vm, "peak_gpu_memory_gb", lambda device: 1.25)  # a CUDA device, faked
    _, fake = _tiny_fit({}, epochs=2)
    assert [h["gpu_mem_gb"] for h in fake.history if "gpu_mem_gb" in h] == [1.25, 1.25]
