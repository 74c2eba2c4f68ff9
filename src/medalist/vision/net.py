"""The network: a timm backbone (features only), our pooling and heads, and the losses.

timm supplies the backbone; the head is ours: GeM or average pooling, dropout, a
target head and one small head per auxiliary column.

>>> net = build_net(VisionParams(backbone="resnet10t", in_chans=1), n_out=10, aux_out=[1])
>>> logits, aux = net(torch.zeros(2, 1, 28, 28))  # a batch of two 28x28 grey images
>>> tuple(logits.shape), [tuple(a.shape) for a in aux]
((2, 10), [(2, 1)])
"""

from __future__ import annotations

import difflib
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from medalist.core.errors import ConfigError
from medalist.vision.config import VisionParams

__all__ = ["GeM", "ImageNet", "build_net", "check_backbone", "per_sample_loss", "logits_to_pred", "n_outputs", "weighted_mean"]


class GeM(nn.Module):
    """Generalized-mean pooling with a learnable exponent p (p=1: average, p→∞: max)."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.ones(1) * p)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In float32: x**p of half-precision activations overflows.
        x = x.float().clamp(min=self.eps).pow(self.p)
        return F.adaptive_avg_pool2d(x, 1).pow(1.0 / self.p).flatten(1)


TAB_WIDTH = 32  # features the tabular MLP adds to the pooled image features


class ImageNet(nn.Module):
    """Backbone → pool (→ concatenated with an MLP of the tabular columns) → dropout → target head
    (+ aux heads). Takes raw uint8/float images and, with ``n_tab`` > 0, (B, n_tab) standardised values."""

    def __init__(self, backbone: nn.Module, pool: str, drop: float, n_out: int, aux_out: list[int],
                 mean: list[float], std: list[float], n_tab: int = 0, resizer: nn.Module | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.resizer = resizer  # a learned resizer between the loaded image and the backbone (None: none)
        self.pool = GeM() if pool == "gem" else None
        self.drop = nn.Dropout(drop)
        width = backbone.num_features
        self.n_tab = n_tab
        self.tab = nn.Sequential(nn.Linear(n_tab, TAB_WIDTH), nn.ReLU()) if n_tab else None
        width += TAB_WIDTH if n_tab else 0
        self.head = nn.Linear(width, n_out)
        self.aux_heads = nn.ModuleList([nn.Linear(width, k) for k in aux_out])
        # Normalising on the batch lets uint8 (4× smaller) travel to the device.
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1) * 255.0, persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1) * 255.0, persistent=False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - self.mean) / self.std

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.resizer is not None:
            x = self.resizer(x)
        f = self.backbone.forward_features(x)
        if f.ndim == 4 and not getattr(self.backbone, "output_fmt", "NCHW") == "NHWC":
            if self.pool is not None:
                return self.pool(f)
            return F.adaptive_avg_pool2d(f, 1).flatten(1)
        # Token or NHWC outputs (vit, swin…): the backbone's own head pooling.
        return self.backbone.forward_head(f, pre_logits=True)

    def forward(self, x: torch.Tensor, normalized: bool = False, tab: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if not normalized:
            x = self.normalize(x)
        z = self.features(x)
        if self.tab is not None:
            if tab is None:
                raise ValueError(f"this network takes {self.n_tab} tabular values per image (model.params.tabular)")
            z = torch.cat([z.float(), self.tab(tab.float())], dim=1)
        z = self.drop(z)
        return self.head(z), [h(z) for h in self.aux_heads]


def check_backbone(name: str) -> None:
    """ConfigError with close matches from timm.list_models when ``name`` is not a timm model.

    >>> check_backbone("resnet18")
    """
    import timm

    if timm.is_model(name):
        return
    names = timm.list_models()
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    if not close:
        close = timm.list_models(f"*{name.split('_')[0]}*")[:5]
    raise ConfigError(
        "model.params.backbone", expected="a timm model name", found=f"'{name}'",
        fix=f"close matches: {', '.join(close)}" if close else "see timm.list_models()",
    )


def build_net(p: VisionParams, n_out: int, aux_out: list[int]) -> ImageNet:
    """Create the timm backbone (weights from timm, a local file, or none), frozen as ``p.freeze`` says,
    an optional learned resizer in front of it, and our heads."""
    import timm

    check_backbone(p.backbone)
    kw: dict[str, Any] = {"num_classes": 0, "global_pool": "", "in_chans": p.in_chans}
    if p.drop_path is not None:
        kw["drop_path_rate"] = p.drop_path
    pretrained = bool(p.pretrained)
    if isinstance(p.pretrained, str):
        from pathlib import Path

        if not Path(p.pretrained).is_file():
            raise ConfigError("model.params.pretrained", expected="true, false, or a local weights file",
                              found=f"'{p.pretrained}' (no such file)", fix="check the path")
        # timm loads a local file like its hub weights: classifier dropped, first conv adapted to in_chans.
        kw["pretrained_cfg_overlay"] = {"file": str(p.pretrained)}
    try:
        backbone = timm.create_model(p.backbone, pretrained=pretrained, **kw)
    except TypeError:
        kw.pop("global_pool")  # a few families take no global_pool argument
        backbone = timm.create_model(p.backbone, pretrained=pretrained, **kw)
    cfg = getattr(backbone, "pretrained_cfg", {}) or {}
    mean = list(cfg.get("mean", (0.485, 0.456, 0.406)))
    std = list(cfg.get("std", (0.229, 0.224, 0.225)))
    if len(mean) != p.in_chans:  # 1-channel or 2.5D inputs: the average statistics per channel
        mean, std = [sum(mean) / len(mean)] * p.in_chans, [sum(std) / len(std)] * p.in_chans
    resizer = None
    if p.resizer is not None:
        from medalist.vision.resizer import LearnedResizer

        resizer = LearnedResizer(p.in_chans, p.resizer.hw(), p.resizer.filters, p.resizer.blocks)
    freeze = p.resolved_freeze()
    if freeze is not None:
        from medalist.vision.finetune import freeze_backbone

        backbone = freeze_backbone(backbone, freeze.stages, freeze.bn)
    return ImageNet(backbone, p.pool, p.drop, n_out, aux_out, mean, std, n_tab=len(getattr(p, "tabular", None) or []), resizer=resizer)


# ------------------------------------------------------------------------------------ losses


def n_outputs(task: str, loss: str, width: int) -> int:
    """Logits of the target head: 2 for binary with ce/kl (SETI), 1 for binary bce/focal, else width."""
    if task == "binary":
        return 2 if loss in ("ce", "kl") else 1
    return width


def _check_loss(task: str, loss: str) -> None:
    ok = {"binary": ("bce", "ce", "focal", "kl"), "multiclass": ("ce", "focal", "kl"), "distribution": ("kl", "ce", "focal"),
          "multilabel": ("bce", "focal", "ce", "kl"), "regression": ("mse", "l1")}[task]
    if loss not in ok:
        raise ConfigError("model.params.loss", expected=f"one of {', '.join(ok)} for a {task} task", found=f"'{loss}'",
                          fix="pick a loss that fits the task")


def per_sample_loss(logits: torch.Tensor, target: torch.Tensor, task: str, loss: str, gamma: float = 2.0) -> torch.Tensor:
    """Loss per row. ``target`` is soft: binary (n, 1) probability, multiclass (n, K) distribution,
    multilabel (n, L), regression (n, D)."""
    _check_loss(task, loss)
    logits = logits.float()
    target = target.float()
    if task == "binary" and logits.shape[1] == 2:
        target = torch.cat([1 - target, target], dim=1)
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(1)
    if loss == "ce":
        return F.cross_entropy(logits, target, reduction="none")
    if loss == "kl":
        return F.kl_div(F.log_softmax(logits, 1), target, reduction="none").sum(1)
    if loss == "focal":
        if task == "multilabel" or (task == "binary" and logits.shape[1] == 1):
            bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
            p = torch.sigmoid(logits)
            p_t = p * target + (1 - p) * (1 - target)
            return (bce * (1 - p_t) ** gamma).mean(1)
        logp = F.log_softmax(logits, 1)
        return -(target * (1 - logp.exp()) ** gamma * logp).sum(1)
    if loss == "mse":
        return F.mse_loss(logits, target, reduction="none").mean(1)
    return F.l1_loss(logits, target, reduction="none").mean(1)


def weighted_mean(rows: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(Σ wᵢ·mᵢ·rowsᵢ / Σ wᵢ·mᵢ, Σ mᵢ): the per-sample weighted mean loss over the rows in ``mask``.

    ``weight`` None means 1 per row (the plain mean). Rows of weight 0 do not move the gradient; when
    every weight in the batch is 0 the loss is 0.

    >>> loss, n = weighted_mean(torch.tensor([1.0, 3.0, 5.0]), torch.tensor([True, True, False]), torch.tensor([3.0, 1.0, 9.0]))
    >>> float(loss), int(n)
    (1.5, 2)
    """
    m = mask.to(rows.dtype)
    w = m if weight is None else weight.to(rows.dtype).reshape(-1) * m
    total = w.sum()
    loss = (rows * w).sum() / torch.where(total > 0, total, torch.ones_like(total))
    return loss, mask.sum()


def aux_loss(logits: torch.Tensor, target: torch.Tensor, loss: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-row loss, mask of rows whose aux value is known). ``target`` is (n,) with NaN for unknown."""
    mask = ~torch.isnan(target)
    t = torch.nan_to_num(target.float())
    logits = logits.float()
    if loss == "bce":
        out = F.binary_cross_entropy_with_logits(logits[:, 0], t.clamp(0, 1), reduction="none")
    elif loss == "ce":
        out = F.cross_entropy(logits, t.long().clamp(0, logits.shape[1] - 1), reduction="none")
    elif loss == "mse":
        out = F.mse_loss(logits[:, 0], t, reduction="none")
    else:
        out = F.l1_loss(logits[:, 0], t, reduction="none")
    return out * mask, mask


def logits_to_pred(logits: torch.Tensor, task: str, loss: str) -> torch.Tensor:
    """Predictions in medalist's shapes: binary (n,), multiclass (n, K), multilabel (n, L), regression (n,)."""
    logits = logits.float()
    if task == "binary":
        return torch.softmax(logits, 1)[:, 1] if logits.shape[1] == 2 else torch.sigmoid(logits[:, 0])
    if task in ("multiclass", "distribution"):
        return torch.softmax(logits, 1)
    if task == "multilabel":
        return torch.softmax(logits, 1) if loss in ("ce", "kl") else torch.sigmoid(logits)
    return logits[:, 0] if logits.shape[1] == 1 else logits
