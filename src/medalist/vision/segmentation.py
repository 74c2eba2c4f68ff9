"""``model: segmentation``: segmentation-models-pytorch architectures with timm encoders, on Lightning.

One more registered model: the runner fits one per fold on the shared folds. Its OOF/test column
is a scalar per image, the **non-empty score** (the largest pixel probability), so the usual
binary target "has a mask" is scored (AUC), blended and stacked like any run. The masks themselves
are kept compactly beside each fold's weights (``models/<fold>/masks.npz``: ids and uint8
probabilities at ``oof_size``) and gathered by :func:`run_masks` into the run's OOF and test masks,
which the (threshold, min area) search and classifier gating read
(:mod:`medalist.postprocess.masks`, ``medalist postprocess gate-masks``).

Example experiment::

    model:
      name: segmentation
      params:
        arch: Unet                      # Unet, UnetPlusPlus, FPN, DeepLabV3Plus
        backbone: resnet34              # a timm encoder (smp's "tu-" encoders)
        pretrained: true
        img_size: 512
        in_chans: 1
        images: {pattern: "{ImageId}.dcm", dirs: [data/train, data/test]}
        masks: {rle: EncodedPixels}     # or {pattern: "{ImageId}.png", dirs: [data/masks]} or {npy, key}
        seg_loss: {bce: 1.0, dice: 1.0} # bce, dice, lovasz: a weighted sum
        tta: {hflip: true}              # flipped views' masks are flipped back before averaging
    columns: {keep: [ImageId, EncodedPixels]}

>>> from medalist.models import create_model
>>> create_model("segmentation", {"backbone": "resnet10t", "masks": {"rle": "rle"}}).registered_name
'segmentation'
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import Field

from medalist.core.config import validate
from medalist.core.errors import ConfigError, RunError
from medalist.models.protocol import FitContext
from medalist.models.registry import MODELS
from medalist.vision.config import VisionParams
from medalist.vision.model import TimmImageModel, load_weights
from medalist.vision.segmentation_data import MasksConfig
from medalist.vision.trainer import build_trainer, quiet_lightning, record_epoch

__all__ = ["ARCHS", "LOSSES", "SegmentationModel", "SegmentationParams", "run_masks"]

log = logging.getLogger("medalist.vision")

ARCHS = ("Unet", "UnetPlusPlus", "FPN", "DeepLabV3Plus")
LOSSES = ("bce", "dice", "lovasz")


class SegmentationParams(VisionParams):
    """:class:`~medalist.vision.config.VisionParams` (optimizer, schedule, EMA/SWA, augment, TTA,
    images, Trainer) plus the segmentation network, its masks and its losses."""

    arch: Literal["Unet", "UnetPlusPlus", "FPN", "DeepLabV3Plus"] = "Unet"
    backbone: str = "resnet34"
    encoder_depth: int = Field(default=5, ge=3, le=5)
    decoder_channels: list[int] | None = None  # None: smp's defaults for the depth
    masks: MasksConfig = Field(default_factory=MasksConfig)
    seg_loss: dict[str, float] = Field(default_factory=lambda: {"bce": 1.0, "dice": 1.0})
    oof_size: int = Field(default=64, ge=8)  # stored OOF/test mask probabilities are oof_size x oof_size uint8
    id_col: str = "id"  # the column that names each row's stored masks

    @classmethod
    def parse(cls, params: dict[str, Any], source: str = "model.params") -> SegmentationParams:
        p = validate(cls, params, source)
        bad = [k for k in p.seg_loss if k not in LOSSES]
        if bad or not p.seg_loss:
            raise ConfigError(f"{source}.seg_loss", expected=f"weights of {', '.join(LOSSES)}, e.g. {{bce: 1, dice: 1}}",
                              found=f"{bad or 'nothing'}")
        return p


def build_seg_net(p: SegmentationParams) -> Any:
    """The smp network (timm encoder ``tu-<backbone>``) wrapped with the image normalisation."""
    import segmentation_models_pytorch as smp
    import torch
    from torch import nn

    from medalist.vision.net import check_backbone

    check_backbone(p.backbone)
    kw: dict[str, Any] = {"encoder_name": f"tu-{p.backbone}", "encoder_weights": "imagenet" if p.pretrained is True else None,
                          "in_channels": p.in_chans, "classes": 1}
    if p.arch in ("Unet", "UnetPlusPlus"):
        kw["encoder_depth"] = p.encoder_depth
        kw["decoder_channels"] = p.decoder_channels or [256, 128, 64, 32, 16][5 - p.encoder_depth:]
    elif p.encoder_depth != 5:
        kw["encoder_depth"] = p.encoder_depth
    model = getattr(smp, p.arch)(**kw)
    if isinstance(p.pretrained, str):
        from safetensors.torch import load_file

        if not Path(p.pretrained).is_file():
            raise ConfigError("model.params.pretrained", expected="true, false, or a local encoder weights file",
                              found=f"'{p.pretrained}' (no such file)")
        state = load_file(p.pretrained) if p.pretrained.endswith(".safetensors") else torch.load(p.pretrained, weights_only=True)
        missing = model.encoder.model.load_state_dict(state, strict=False)
        log.info("encoder weights from %s (%d tensors missing)", p.pretrained, len(missing.missing_keys))

    class SegNet(nn.Module):
        def __init__(self, inner: nn.Module, in_chans: int) -> None:
            super().__init__()
            self.model = inner
            mean, std = [0.449] * in_chans, [0.226] * in_chans
            self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1) * 255.0, persistent=False)
            self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1) * 255.0, persistent=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.model((x.float() - self.mean) / self.std)
            if out.shape[-2:] != x.shape[-2:]:  # e.g. FPN on a shallow encoder: its fixed upsampling overshoots
                out = torch.nn.functional.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)
            return out

    return SegNet(model, p.in_chans)


class SegDataset:
    """(image uint8 CHW, mask float 1HW, index, bad) per row, image and mask augmented together."""

    def __init__(self, source: Any, refs: list, masks: Any, mask_refs: list | None, transforms: list, size: tuple[int, int]) -> None:
        self.source, self.refs, self.masks, self.mask_refs = source, refs, masks, mask_refs
        self.transforms, self.size = transforms, size
        self._compose = None

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, i: int) -> dict[str, Any]:
        import albumentations as A
        import torch

        if self._compose is None:
            self._compose = A.Compose([*self.transforms, A.Resize(height=self.size[0], width=self.size[1])])
        img = self.source.read(self.refs[i])
        mask = (self.masks.read(self.mask_refs[i], img.shape[:2], image=self.source.describe(self.refs[i]))
                if self.mask_refs is not None else np.zeros(img.shape[:2], np.uint8))
        out = self._compose(image=img, mask=mask)
        im = out["image"][:, :, None] if out["image"].ndim == 2 else out["image"]
        return {"image": torch.from_numpy(np.array(im.transpose(2, 0, 1), order="C")),
                "mask": torch.from_numpy(np.ascontiguousarray(out["mask"][None].astype(np.float32))),
                "index": i, "bad": False}


def _losses(p: SegmentationParams) -> list[tuple[Any, float]]:
    """(smp loss, weight) per ``seg_loss`` entry."""
    import segmentation_models_pytorch as smp

    make = {"bce": lambda: smp.losses.SoftBCEWithLogitsLoss(), "dice": lambda: smp.losses.DiceLoss("binary"),
            "lovasz": lambda: smp.losses.LovaszLoss("binary")}
    return [(make[k](), float(w)) for k, w in p.seg_loss.items()]


def _optimizer(module: Any) -> dict[str, Any]:
    """AdamW with the encoder at ``lr`` and the decoder/head at ``head_lr``; warmup + cosine per step (timm)."""
    import torch

    from medalist.vision.averaging import check_steps
    from medalist.vision.schedule import warmup_cosine

    p = module.p
    enc, rest = [], []
    for name, prm in module.net.named_parameters():
        (enc if name.startswith("model.encoder.") else rest).append(prm)
    opt = torch.optim.AdamW([{"params": enc, "lr": p.resolved_lr()}, {"params": rest, "lr": p.resolved_head_lr()}],
                            lr=p.resolved_head_lr(), weight_decay=p.weight_decay)
    total = max(int(module.trainer.estimated_stepping_batches), 1)
    module.step_warnings = check_steps(p, total, int(module.trainer.max_epochs or 1))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": warmup_cosine(opt, total, p.warmup), "interval": "step"}}


def _module_class():
    import lightning.pytorch as L
    import torch

    class SegModule(L.LightningModule):
        """Training logic: the weighted loss sum, per-epoch curves (losses, dice at 0.5, LR, seconds),
        AdamW with the encoder at ``lr`` and the decoder at ``head_lr``, warmup + cosine (timm)."""

        def __init__(self, net: Any, p: SegmentationParams, log_fn: Any = None) -> None:
            super().__init__()
            self.net, self.p, self.log_fn = net, p, log_fn
            self.losses = _losses(p)
            self.history: list[dict[str, float]] = []
            self._sums: dict[str, list[float]] = {}
            self._t0 = time.perf_counter()

        def _emit(self, name: str, value: float, epoch: int) -> None:
            record_epoch(self.history, self.log_fn, name, value, epoch)

        def _loss(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            logits = logits.float()
            return sum(w * fn(logits, mask) for fn, w in self.losses)  # type: ignore[return-value]

        def _add(self, name: str, value: float, n: int) -> None:
            s = self._sums.setdefault(name, [0.0, 0])
            s[0] += value * n
            s[1] += n

        def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
            loss = self._loss(self.net(batch["image"]), batch["mask"])
            self._add("train_loss", float(loss.detach()), len(batch["image"]))
            return loss

        def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
            from medalist.postprocess.masks import dice_per_image

            logits = self.net(batch["image"])
            n = len(batch["image"])
            self._add("valid_loss", float(self._loss(logits, batch["mask"])), n)
            pred = (torch.sigmoid(logits.float()) >= 0.5).cpu().numpy()[:, 0]
            self._add("valid_dice", float(dice_per_image(batch["mask"].cpu().numpy()[:, 0] > 0.5, pred).mean()), n)

        def on_train_epoch_start(self) -> None:
            self._t0 = time.perf_counter()

        def on_train_epoch_end(self) -> None:
            epoch = self.current_epoch + 1
            for k in [k for k in self._sums if k.startswith("train_")]:
                s, n = self._sums.pop(k)
                self._emit(k, s / max(n, 1), epoch)
            self._emit("lr", self.optimizers().optimizer.param_groups[-1]["lr"], epoch)  # type: ignore[union-attr]
            self._emit("epoch_seconds", time.perf_counter() - self._t0, epoch)

        def on_validation_epoch_end(self) -> None:
            if self.trainer.sanity_checking:
                return
            epoch = self.current_epoch + 1
            for k in [k for k in self._sums if k.startswith("valid_")]:
                s, n = self._sums.pop(k)
                self._emit(k, s / max(n, 1), epoch)

        def configure_optimizers(self) -> Any:
            return _optimizer(self)

        def lr_scheduler_step(self, scheduler: Any, metric: Any = None) -> None:
            self._sched_steps = getattr(self, "_sched_steps", 0) + 1
            scheduler.step_update(num_updates=self._sched_steps)

    return SegModule


def _require() -> None:
    from medalist.core import optional

    for pkg in ("torch", "timm", "lightning", "albumentations", "segmentation_models_pytorch"):
        optional.require(pkg, extra="vision", purpose="model 'segmentation'")


class SegmentationModel(TimmImageModel):
    """smp network per fold; ``predict`` returns the non-empty score per image and keeps the masks."""

    name = "segmentation"
    params_class: ClassVar[type] = SegmentationParams

    def _width(self) -> int:
        return 1

    def _datasets(self, frame: pl.DataFrame, what: str, *, train: bool, with_masks: bool = True) -> SegDataset:
        from medalist.vision.augment import build_transforms
        from medalist.vision.data import ImageSource
        from medalist.vision.segmentation_data import MaskSource

        p = self.p
        source = ImageSource(p.images, p.in_chans)
        masks = MaskSource(p.masks)
        refs = source.refs(frame, what)
        mrefs = masks.refs(frame, what) if with_masks else None
        tf = build_transforms(p.augment) if train else build_transforms(p.valid_augment, "model.params.valid_augment")
        return SegDataset(source, refs, masks, mrefs, tf, p.size())

    def fit(self, train: pl.DataFrame, valid: pl.DataFrame | None, ctx: FitContext) -> SegmentationModel:
        _require()
        import lightning.pytorch as L

        self._start_fit(train, ctx)
        p = self.p
        if p.id_col not in train.columns:
            from medalist.core.errors import did_you_mean

            raise ConfigError("model.params.id_col", expected="the column naming each row (the competition id): stored masks are keyed by it",
                              found=f"'{p.id_col}', not a column{did_you_mean(p.id_col, train.columns)}",
                              fix=f"set model.params.id_col to one of {train.columns[:6]}")
        self.loss_ = "+".join(f"{w:g}*{k}" for k, w in p.seg_loss.items())
        self.aux_out_, self.aux_classes_, self.tab_stats_ = [], {}, None
        train_ds = self._datasets(train, "train", train=True)
        valid_ds = self._datasets(valid, "valid", train=False) if valid is not None else None
        epochs = p.epochs if valid is not None else (p.full_fit_epochs or ctx.num_iterations or p.epochs)
        L.seed_everything(ctx.seed, workers=True, verbose=False)
        module = _module_class()(build_seg_net(p), p, ctx.log)
        precision = self._precision()
        with quiet_lightning(ctx.threads):
            trainer = build_trainer(p, epochs, precision, ctx, validate=valid_ds is not None)
            trainer.fit(module, self._loader(train_ds, train=True, seed=ctx.seed),
                        self._loader(valid_ds, train=False) if valid_ds is not None else None)
        self.net_ = module.net.cpu().eval()
        self.best_iteration = epochs
        self.precision_ = precision
        self.history_ = module.history
        self.step_warnings_ = list(getattr(module, "step_warnings", []))
        self._mask_log: list[tuple[list, np.ndarray]] = []
        return self

    # -- predicting --------------------------------------------------------------------------

    def predict_masks(self, frame: pl.DataFrame) -> np.ndarray:
        """Mask probabilities (n, img_size) averaged over the TTA flips (each flipped back), float32."""
        self._check_fitted()
        _require()
        import torch

        from medalist.vision.tta import _autocast, tta_views

        p = self.p
        ds = self._datasets(frame, "frame to predict", train=False, with_masks=False)
        device = self._device()
        net = self.net_.to(device).eval()
        views = tta_views(p.tta.hflip, p.tta.vflip)
        parts = []
        with torch.inference_mode(), quiet_lightning(getattr(self, "threads_", None)):
            for batch in self._loader(ds, train=False):
                x = batch["image"].to(device)
                acc = None
                with _autocast(device, getattr(self, "precision_", "32-true")):
                    for h, v in views:
                        dims = [d for d, on in ((3, h), (2, v)) if on]
                        xv = torch.flip(x, dims) if dims else x
                        prob = torch.sigmoid(net(xv).float())
                        prob = torch.flip(prob, dims) if dims else prob  # the mask back in the image's frame
                        acc = prob if acc is None else acc + prob
                parts.append((acc / len(views))[:, 0].cpu().numpy())  # type: ignore[operator]
        self.net_ = net.cpu()
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, *p.size()), np.float32)

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """The non-empty score per image (the largest pixel probability); the masks are kept for ``save``."""
        if frame.height == 0:
            return np.empty(0, dtype=np.float64)
        probs = self.predict_masks(frame)
        ids = frame.get_column(self.p.id_col).to_list() if self.p.id_col in frame.columns else list(range(frame.height))
        self.__dict__.setdefault("_mask_log", []).append((ids, _compact(probs, self.p.oof_size)))
        return probs.reshape(len(probs), -1).max(axis=1).astype(np.float64)

    @property
    def uses_tta(self) -> bool:
        return False  # flips are part of every mask prediction; no separate no-TTA OOF pass

    # -- persistence -------------------------------------------------------------------------

    def _save_native(self, path: Path) -> None:
        from safetensors.torch import save_file

        save_file({k: v.detach().contiguous() for k, v in self.net_.state_dict().items()}, str(path / "weights.safetensors"))
        logged = self.__dict__.get("_mask_log") or []
        if logged:
            ids = [str(i) for part, _ in logged for i in part]
            np.savez_compressed(path / "masks.npz", ids=np.array(ids), probs=np.concatenate([m for _, m in logged]))
        if getattr(self, "history_", None):
            pl.DataFrame(self.history_).write_csv(path / "history.csv")

    def _extra_meta(self) -> dict[str, Any]:
        return {"loss": self.loss_, "precision": getattr(self, "precision_", "32-true"), "epochs_trained": self.best_iteration,
                "training": self._training_meta(), "step_warnings": getattr(self, "step_warnings_", []),
                "arch": self.p.arch, "oof_size": self.p.oof_size}

    def _load_native(self, path: Path, meta: dict[str, Any]) -> None:
        _require()
        self.loss_ = meta["loss"]
        self.precision_ = meta.get("precision", "32-true")
        self.aux_out_, self.aux_classes_, self.tab_stats_ = [], {}, None
        net = build_seg_net(self.p.model_copy(update={"pretrained": False}))
        net.load_state_dict(load_weights(path))
        self.net_ = net.eval()


def _compact(probs: np.ndarray, size: int) -> np.ndarray:
    """(n, H, W) float probabilities as (n, size, size) uint8 (bilinear when the size differs)."""
    import torch
    from torch.nn import functional as F

    t = torch.from_numpy(np.asarray(probs, np.float32))[:, None]
    if t.shape[-2:] != (size, size):
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    return (t[:, 0].clamp(0, 1).numpy() * 255.0 + 0.5).astype(np.uint8)


def run_masks(run: Any, id_col: str = "id") -> dict[str, Any]:
    """A segmentation run's OOF and test mask probabilities, gathered from its fold models' masks.npz
    (OOF: each id from the folds that validated it; test: the mean over all fold models) and cached
    in the run folder as ``masks.npz``. Returns ``{"oof_ids", "oof", "test_ids", "test"}`` (uint8)."""
    cache = Path(run.path) / "masks.npz"
    if cache.is_file():
        z = np.load(cache)
        return {k: z[k] for k in ("oof_ids", "oof", "test_ids", "test")}
    oof = run.oof()
    oof_ids = set(oof.get_column(id_col if id_col in oof.columns else oof.columns[0]).cast(pl.String).to_list())
    parts = sorted(p for p in (Path(run.path) / "models").glob("r*_f*") if (p / "masks.npz").is_file())
    if not parts:
        raise RunError(f"run '{run.id}'", expected="a segmentation run with masks.npz under models/",
                       found="no stored masks", fix="train it with model: segmentation")
    sums: dict[str, dict[str, Any]] = {"oof": {}, "test": {}}
    for p in parts:
        z = np.load(p / "masks.npz")
        for i, m in zip(z["ids"].tolist(), z["probs"]):
            which = "oof" if i in oof_ids else "test"
            s = sums[which].setdefault(i, [np.zeros(m.shape, np.float64), 0])
            s[0] += m
            s[1] += 1
    out: dict[str, Any] = {}
    for which in ("oof", "test"):
        ids = sorted(sums[which])
        out[f"{which}_ids"] = np.array(ids)
        shape = next(iter(sums[which].values()))[0].shape if ids else (0, 0)
        out[which] = (np.stack([sums[which][i][0] / sums[which][i][1] for i in ids]) + 0.5).astype(np.uint8) if ids \
            else np.zeros((0, *shape), np.uint8)
    np.savez_compressed(cache, **out)
    return out


MODELS.register("segmentation")(SegmentationModel)
