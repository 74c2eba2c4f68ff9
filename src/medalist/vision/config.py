"""Typed parameters of ``model: timm_image`` (the ``model.params`` block of an experiment YAML).

Defaults are the image-competition community's: AdamW, cosine schedule
with warmup, LR 1e-3 for CNNs (resnet/efficientnet…) and 1e-4 for convnext/swin/vit/maxvit/eva,
GeM pooling, 2-logit softmax + cross-entropy for binary targets, fp32 for maxvit.

>>> p = VisionParams.parse({"backbone": "convnext_tiny"})
>>> (p.resolved_lr(), p.resolved_head_lr(), p.resolved_loss("binary"))
(0.0001, 0.0001, 'ce')
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from medalist.core.config import Strict, validate

__all__ = ["VisionParams", "ImagesConfig", "AuxHead", "MixConfig", "SamplerConfig", "TTAConfig",
           "PseudoLabelConfig", "EMAConfig", "SWAConfig", "FreezeConfig", "ImageResizerConfig", "ExternalConfig",
           "transformer_like"]

# Families for which 1e-3 does not converge: their default LR is 1e-4.
_SLOW_FAMILIES = ("convnext", "swin", "vit", "deit", "beit", "eva", "maxvit", "coat", "cait", "xcit",
                  "levit", "pvt", "mvit", "twins", "crossvit", "tnt", "volo", "efficientformer", "hiera")


def transformer_like(backbone: str) -> bool:
    """True for backbones whose community default LR is 1e-4 (convnext, swin, vit, maxvit, eva…).

    >>> transformer_like("convnext_base"), transformer_like("tf_efficientnet_b0")
    (True, False)
    """
    name = backbone.lower()
    return any(name.startswith(f) or f"_{f}" in name for f in _SLOW_FAMILIES)


class ImagesConfig(Strict):
    """Where each row's image comes from: files, an HDF5 of encoded bytes, or a .npy array.

    Exactly one of ``column`` (a file name per row) or ``pattern`` (a file name formatted from the
    row, e.g. ``"{isic_id}.jpg"``) for files; ``hdf5`` with ``key`` for HDF5; ``npy`` with ``key``
    (an integer row index column) for arrays. Files are looked up in ``dirs`` in order (train and
    test folders); paths are relative to the workspace (where medalist runs).
    """

    column: str | None = None
    pattern: str | None = None
    dirs: list[str] = Field(default_factory=lambda: ["."])
    hdf5: list[str] = Field(default_factory=list)
    npy: str | None = None
    key: str | None = None

    @field_validator("dirs", "hdf5", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class AuxHead(Strict):
    """An auxiliary head on a metadata column: ``loss = target_loss + Σ weight · aux_loss``."""

    col: str
    loss: Literal["bce", "ce", "mse", "l1"] = "bce"
    weight: float = 0.1
    n_classes: int | None = None  # ce only; default: largest code seen + 1


class MixConfig(Strict):
    """Mixup / cutmix on training batches; one of them is drawn per batch when both are on."""

    mixup_alpha: float = Field(default=0.0, ge=0)
    cutmix_alpha: float = Field(default=0.0, ge=0)
    prob: float = Field(default=1.0, ge=0, le=1)  # chance a batch is mixed at all


class SamplerConfig(Strict):
    """Negative downsampling re-drawn every epoch (binary targets): all positives + ratio × as many negatives."""

    neg_pos_ratio: float | None = Field(default=None, gt=0)


class TTAConfig(Strict):
    """Test-time augmentation: deterministic flips plus ``n`` passes of the random train augmentation."""

    hflip: bool = False
    vflip: bool = False
    n: int = Field(default=0, ge=0)


class EMAConfig(Strict):
    """Exponential moving average of the weights after every optimizer step; the decay warms up as
    ``min(decay, (1 + n) / (10 + n))`` after ``n`` steps (see :mod:`medalist.vision.averaging`)."""

    decay: float = Field(default=0.999, gt=0, lt=1)


class SWAConfig(Strict):
    """Equal-weight average of the weights at the end of each epoch from ``epoch_start`` on."""

    epoch_start: float = Field(default=0.75, ge=0)  # a fraction of the epochs (< 1) or an epoch number


class PseudoLabelConfig(Strict):
    """Another run's confident test predictions added to every training fold (never to validation)."""

    run: str
    min_confidence: float = Field(default=0.9, ge=0, le=1)
    soft: bool = True


class FreezeConfig(Strict):
    """Fine-tuning freezes: the stem and the first ``stages`` stages of the backbone (timm's coarse
    parameter groups) stop training, and ``bn: true`` fixes every BatchNorm of the backbone (running
    statistics and affine, timm's FrozenBatchNorm2d)."""

    stages: int = Field(default=0, ge=0)
    bn: bool = False


class ImageResizerConfig(Strict):
    """Learned resizer (Talebi & Milanfar 2021; SETI) between the loaded images (``img_size``) and the
    backbone, which sees ``size``: a bilinear resize plus a trainable residual CNN path."""

    size: int | list[int]
    filters: int = Field(default=16, ge=1)
    blocks: int = Field(default=1, ge=0)

    def hw(self) -> tuple[int, int]:
        s = self.size
        return (s, s) if isinstance(s, int) else (int(s[0]), int(s[1]))


class ExternalConfig(Strict):
    """Extra labelled rows (another year's data, an external set) used for training in every fold,
    never validated on, never in the OOF predictions: a table with the target and image columns."""

    file: str  # csv or parquet, relative to the workspace
    weight: float = Field(default=1.0, ge=0)  # sample weight of each external row (with a weight: column)


class VisionParams(Strict):
    # network
    backbone: str = "convnext_base"  # convnext base: the community's first try
    pretrained: bool | str = False  # true: timm's weights (needs them cached); a path: local weights file
    in_chans: int = Field(default=3, ge=1)
    img_size: int | list[int] = 224
    pool: Literal["gem", "avg"] = "gem"
    drop: float = Field(default=0.0, ge=0, lt=1)  # head dropout
    drop_path: float | None = None
    loss: Literal["bce", "ce", "focal", "kl", "mse", "l1"] | None = None  # None: by task (binary: 2-logit ce)
    focal_gamma: float = 2.0
    aux: list[AuxHead] = Field(default_factory=list)
    # feature columns fed to the head beside the pooled image features (standardised; missing -> the mean)
    tabular: list[str] = Field(default_factory=list)
    # optimization
    epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=32, ge=1)
    lr: float | None = None  # backbone LR; None: 1e-3 for CNNs, 1e-4 for convnext/swin/vit/maxvit/eva
    head_lr: float | None = None  # None: same as lr (ISIC: head 2e-4, backbone 2e-5)
    weight_decay: float = 1e-2
    warmup: float = Field(default=0.1, ge=0, lt=1)  # fraction of optimizer steps spent warming up
    accumulate: int = Field(default=1, ge=1)
    grad_clip: float | None = None
    precision: str | None = None  # None: bf16-mixed on a bf16 GPU, else 32 (maxvit: always 32)
    channels_last: bool = True
    compile: bool = False
    ema: EMAConfig | None = None
    swa: SWAConfig | None = None
    freeze_bn: bool = False  # the same as freeze: {bn: true}
    freeze: FreezeConfig | None = None
    lr_decay: float | None = Field(default=None, gt=0, le=1)  # layer-wise LR decay per timm block (0.8: BEiT)
    init_from: str | None = None  # a run whose weights start every fold (head re-initialised where shapes differ)
    resizer: ImageResizerConfig | None = None
    # weights kept per fold: last: the last epoch's (the EMA/SWA average when configured); best: the
    # epoch scoring best on select_split; ema: the EMA average (ema: block, or its defaults)
    select: Literal["last", "best", "ema"] = "last"
    select_split: Literal["fold", "inner"] = "fold"  # best: chosen on the scoring fold, or on an inner slice
    inner_fraction: float = Field(default=0.15, gt=0, lt=0.5)  # select_split inner: training rows held out
    # data
    images: ImagesConfig = Field(default_factory=ImagesConfig)
    augment: list[Any] = Field(default_factory=list)  # albumentations, see medalist.vision.augment
    valid_augment: list[Any] = Field(default_factory=list)
    mix: MixConfig | None = None
    sampler: SamplerConfig | None = None
    tta: TTAConfig = Field(default_factory=TTAConfig)
    workers: int = Field(default=0, ge=0)
    max_bad_fraction: float = Field(default=0.01, ge=0, le=1)  # unreadable images tolerated per pass
    pseudo_label: PseudoLabelConfig | None = None
    external: ExternalConfig | None = None
    # Lightning Trainer
    accelerator: str = "auto"
    devices: int | str | list[int] = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    full_fit_epochs: int | None = None  # None: the epochs the CV folds trained
    log_samples: int = Field(default=16, ge=0)  # augmented inputs in the grid; worst-predicted rows kept

    @model_validator(mode="after")
    def _select_checks(self) -> "VisionParams":
        if self.select_split == "inner" and self.select != "best":
            raise ValueError(f"select_split 'inner' chooses the best epoch: it needs select 'best' (found '{self.select}')")
        return self

    @classmethod
    def parse(cls, params: dict[str, Any], source: str = "model.params") -> "VisionParams":
        return validate(cls, params, source)

    def resolved_lr(self) -> float:
        if self.lr is not None:
            return self.lr
        return 1e-4 if transformer_like(self.backbone) else 1e-3

    def resolved_ema(self) -> EMAConfig | None:
        """The EMA of the fit: the ``ema`` block, or its defaults under ``select: ema``; None: no EMA.

        >>> VisionParams.parse({"select": "ema"}).resolved_ema().decay
        0.999
        """
        return self.ema if self.ema is not None else (EMAConfig() if self.select == "ema" else None)

    def resolved_head_lr(self) -> float:
        return self.head_lr if self.head_lr is not None else self.resolved_lr()

    def resolved_loss(self, task: str) -> str:
        if self.loss is not None:
            return self.loss
        return {"binary": "ce", "multiclass": "ce", "multilabel": "bce", "regression": "mse", "distribution": "kl"}[task]

    def resolved_freeze(self) -> FreezeConfig | None:
        """``freeze``, with ``freeze_bn: true`` folded in as ``bn: true``; None when nothing is frozen.

        >>> VisionParams(freeze_bn=True).resolved_freeze()
        FreezeConfig(stages=0, bn=True)
        """
        f = self.freeze or FreezeConfig()
        if self.freeze_bn:
            f = f.model_copy(update={"bn": True})
        return f if (f.stages or f.bn) else None

    def size(self) -> tuple[int, int]:
        s = self.img_size
        return (s, s) if isinstance(s, int) else (int(s[0]), int(s[1]))
