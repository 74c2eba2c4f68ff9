"""Fine-tuning a timm backbone: frozen stages and BatchNorm, layer-wise LR decay, and starting a fit
from another run's weights (pretrain on one run, fine-tune per fold: SETI).

- ``freeze: {stages: N, bn: true}`` — the stem and the first N stages (timm's coarse parameter groups,
  ``model.group_matcher(coarse=True)``) stop training and their BatchNorms become timm's
  ``FrozenBatchNorm2d``; ``bn: true`` (or the older ``freeze_bn: true``) freezes every BatchNorm of
  the backbone (running statistics and affine). Done with ``timm.utils.freeze`` and
  ``timm.layers.freeze_batch_norm_2d``.
- ``lr_decay: 0.8`` — timm's ``param_groups_layer_decay`` (BEiT): each timm block's LR is the
  backbone LR × decay^(blocks above it); the heads keep ``head_lr``.
- ``init_from: RUN`` — every fold starts from the weights of run RUN, a run id or a run folder of
  another workspace (its full-data model when it has one, else its first fold's); tensors whose shapes
  differ (a head for other labels) keep their fresh initialisation. Pretrain on other data or labels:
  a run on this competition's own train rows would carry the validation rows of every fold into it.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from medalist.core.errors import ConfigError, DataError

__all__ = ["stage_ids", "freeze_backbone", "optimizer_groups", "load_matching", "init_weights_of_run"]

log = logging.getLogger("medalist.vision")


def stage_ids(backbone: nn.Module) -> dict[str, int]:
    """Parameter name → timm coarse group: 0 the stem, 1… the stages, the last id anything after them."""
    from timm.models import group_parameters

    if not hasattr(backbone, "group_matcher"):
        raise ConfigError("model.params.freeze.stages", expected="a timm backbone with a group_matcher (stem and stages)",
                          found=f"{type(backbone).__name__} without one", fix="use freeze: {bn: true} only, or another backbone")
    return group_parameters(backbone, backbone.group_matcher(coarse=True), reverse=True)


def freeze_backbone(backbone: nn.Module, stages: int, bn: bool) -> nn.Module:
    """Freeze the stem and the first ``stages`` stages (parameters and BatchNorm statistics) and, with
    ``bn``, every BatchNorm of ``backbone``. Returns the backbone (BatchNorms are replaced in place).

    >>> import timm
    >>> net = freeze_backbone(timm.create_model("resnet10t", num_classes=0), stages=1, bn=False)
    >>> net.conv1[0].weight.requires_grad, net.layer1[0].conv1.weight.requires_grad, net.layer2[0].conv1.weight.requires_grad
    (False, False, True)
    """
    from timm.layers import freeze_batch_norm_2d
    from timm.utils.model import freeze

    if stages:
        ids = stage_ids(backbone)
        top = max(ids.values())
        if stages > top:
            raise ConfigError("model.params.freeze.stages", expected=f"at most {top} (the stages of this backbone)",
                              found=str(stages), fix=f"freeze: {{stages: {top}}} freezes the whole backbone")
        frozen = {n for n, i in ids.items() if i <= stages}
        whole = [n for n, m in backbone.named_modules()
                 if n and any(True for _ in m.parameters()) and all(f"{n}.{pn}" in frozen for pn, _ in m.named_parameters())]
        outer = [n for n in whole if not any(n.startswith(o + ".") for o in whole)]
        freeze(backbone, outer, include_bn_running_stats=True)
        log.info("freeze: stem and %d stage(s), %d of %d parameter tensors", stages, len(frozen), len(ids))
    if bn:
        backbone = freeze_batch_norm_2d(backbone)
    return backbone


def optimizer_groups(net: nn.Module, lr_backbone: float, lr_head: float, weight_decay: float,
                     lr_decay: float | None = None) -> list[dict[str, Any]]:
    """AdamW parameter groups: backbone groups first (the first one at ``lr_backbone``), then the rest
    at ``lr_head``; 1-D parameters (norms, biases) are not decayed. With ``lr_decay`` the backbone
    groups are timm's layer-decay groups, LR ``lr_backbone × lr_scale``, top block first."""
    groups: list[dict[str, Any]] = []
    head: dict[bool, list[nn.Parameter]] = {}
    backbone: dict[bool, list[nn.Parameter]] = {}
    for name, param in net.named_parameters():
        if not param.requires_grad:
            continue
        is_backbone = name.startswith("backbone.")
        if is_backbone and lr_decay is not None:
            continue
        (backbone if is_backbone else head).setdefault(param.ndim <= 1, []).append(param)
    if lr_decay is not None:
        from timm.optim import param_groups_layer_decay

        layered = param_groups_layer_decay(net.backbone, weight_decay=weight_decay, layer_decay=lr_decay)
        for g in sorted(layered, key=lambda g: -g["lr_scale"]):
            # the scale goes into the LR itself: no "lr_scale" key, which timm's schedulers would apply again
            groups.append({"params": g["params"], "lr": lr_backbone * g["lr_scale"], "weight_decay": g["weight_decay"]})
    for no_decay in sorted(backbone):
        groups.append({"params": backbone[no_decay], "lr": lr_backbone, "weight_decay": 0.0 if no_decay else weight_decay})
    for no_decay in sorted(head):
        groups.append({"params": head[no_decay], "lr": lr_head, "weight_decay": 0.0 if no_decay else weight_decay})
    return groups


def load_matching(net: nn.Module, state: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    """Copy the tensors of ``state`` whose name and shape match ``net``'s; (loaded, kept fresh) names."""
    own = net.state_dict()
    take = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    net.load_state_dict(take, strict=False)
    fresh = sorted(k for k in own if k not in take)
    return sorted(take), fresh


def init_weights_of_run(run_id: str) -> dict[str, torch.Tensor]:
    """The saved weights of run ``run_id`` of the current workspace, or of the run folder at that path
    (a run of another workspace): its full-data model when it has one, else its first fold's."""
    from medalist.runs.store import Run
    from medalist.vision.model import load_weights
    from medalist.workspace.paths import Workspace

    ws = Workspace.find()
    folder = ws.path(run_id)  # a run folder of another workspace (pretrained on other data) …
    models = folder / "models" if (folder / "models").is_dir() else Run.open(ws, run_id).path / "models"  # … or a run id
    dirs = sorted(models.glob("full_*")) or sorted(models.glob("r0_f0_*")) or sorted(p for p in models.glob("*") if p.is_dir())
    dirs = [d for d in dirs if (d / "weights.safetensors").is_file() or (d / "weights.pt").is_file()]
    if not dirs:
        raise DataError(f"run '{run_id}' (init_from)", expected="a trained image or signal model under models/",
                        found=f"no weights in {models}", fix="train the pretraining run first, with model timm_image or signal")
    log.info("init_from: weights of %s", dirs[0])
    return load_weights(dirs[0])
