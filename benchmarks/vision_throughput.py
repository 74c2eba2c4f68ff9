"""Training throughput of medalist's image model vs a raw timm loop with the same settings.

Both sides train the same timm backbone on the same in-memory uint8 batches (so the data pipeline
is not what is measured) with AdamW, the same precision, channels_last and torch.compile setting:

- **raw**: the loop a Kaggler writes: ``timm.create_model(name, num_classes=K)``, batch to device,
  normalise, autocast, cross-entropy, backward, ``opt.step()``, ``opt.zero_grad()``;
- **medalist**: :class:`medalist.vision.module.ImageModule` (our GeM head, per-epoch loss
  bookkeeping, LR schedule) driven by the Lightning ``Trainer`` exactly as ``model: timm_image``
  builds it.

Images/s are measured after ``--warmup`` steps (compilation, cudnn autotuning) over ``--steps``
steps, with the device synchronised at both ends. ``--jpeg`` also measures how many images/s the
medalist data pipeline decodes from JPEG files on disk (PIL + albumentations resize) with
``--workers`` DataLoader workers. ``--seg`` adds a ``model: segmentation`` line: a smp Unet on the
first model as timm encoder (``tu-<name>``) trained by medalist's segmentation module under the
Lightning Trainer on image + mask batches (images/s; no raw counterpart). ``--det`` adds a
``model: detection`` line: torchvision FCOS on medalist's small backbone, one-channel ``--img`` px
images with three boxes each, trained by :func:`medalist.vision.detection.fit_detector` (images/s). Goal: medalist ≥ 0.95 × raw. H100 references for the raw loop
(batch 128, 224 px, bf16, channels_last): resnet50 ≈ 3750 img/s eager / 5200 compiled,
convnext_tiny ≈ 2570 / 3810.

Run on a GPU machine: ``python benchmarks/vision_throughput.py`` (resnet50 and convnext_tiny, eager
and compiled, + ``--jpeg``); ``--smoke`` runs a tiny CPU configuration in seconds (CI checks the
script with it); ``--json`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class _Synthetic(torch.utils.data.Dataset):
    """``n`` random uint8 images with class labels, returned in the dict layout of ImageDataset."""

    def __init__(self, n: int, chans: int, size: int, classes: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randint(0, 256, (n, chans, size, size), dtype=torch.uint8, generator=g)
        self.y = torch.randint(0, classes, (n,), generator=g)
        self.classes = classes

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, Any]:
        t = torch.zeros(self.classes)
        t[self.y[i]] = 1.0
        return {"image": self.x[i], "target": t, "label": self.y[i], "index": i, "bad": False}


def _loader(ds: _Synthetic, batch: int, steps: int, workers: int) -> torch.utils.data.DataLoader:
    # A sampler long enough for warmup + timed steps, cycling over the in-memory images.
    idx = torch.arange(batch * steps) % len(ds)
    return torch.utils.data.DataLoader(ds, batch_size=batch, sampler=idx.tolist(), num_workers=workers,
                                       pin_memory=torch.cuda.is_available(), drop_last=True,
                                       persistent_workers=workers > 0)


def _autocast(device: torch.device, precision: str):
    import contextlib

    if precision.startswith("bf16"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision.startswith("16"):
        return torch.autocast(device.type, dtype=torch.float16)
    return contextlib.nullcontext()


def run_raw(cfg: argparse.Namespace, backbone: str, compiled: bool, device: torch.device) -> float:
    """Images/s of the hand-written timm loop."""
    import timm

    torch.manual_seed(0)
    model = timm.create_model(backbone, pretrained=False, num_classes=cfg.classes, in_chans=cfg.chans).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    fwd = torch.compile(model) if compiled else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    mean = torch.tensor([0.485, 0.456, 0.406][: cfg.chans], device=device).view(1, -1, 1, 1) * 255
    std = torch.tensor([0.229, 0.224, 0.225][: cfg.chans], device=device).view(1, -1, 1, 1) * 255
    ds = _Synthetic(cfg.pool_images, cfg.chans, cfg.img, cfg.classes)
    model.train()
    t0 = None
    for i, b in enumerate(_loader(ds, cfg.batch, cfg.warmup + cfg.steps, cfg.workers)):
        if i == cfg.warmup:
            _sync(device)
            t0 = time.perf_counter()
        x = b["image"].to(device, non_blocking=True)
        y = b["label"].to(device, non_blocking=True)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = (x.float() - mean) / std
        with _autocast(device, cfg.precision):
            loss = torch.nn.functional.cross_entropy(fwd(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    _sync(device)
    return cfg.steps * cfg.batch / (time.perf_counter() - t0)  # type: ignore[operator]


def run_medalist(cfg: argparse.Namespace, backbone: str, compiled: bool, device: torch.device) -> float:
    """Images/s of medalist's ImageModule under the Lightning Trainer, as ``model: timm_image`` runs it."""
    import lightning.pytorch as L

    from medalist.vision.config import VisionParams
    from medalist.vision.model import _quiet_lightning
    from medalist.vision.module import ImageModule
    from medalist.vision.net import build_net

    p = VisionParams(backbone=backbone, in_chans=cfg.chans, img_size=cfg.img, batch_size=cfg.batch, lr=1e-3,
                     precision=cfg.precision, channels_last=cfg.channels_last, compile=compiled, pool="avg")
    torch.manual_seed(0)
    net = build_net(p, n_out=cfg.classes, aux_out=[])
    if cfg.channels_last:
        net = net.to(memory_format=torch.channels_last)
    module = ImageModule(net, p, "multiclass", "ce", [])
    times: dict[str, float] = {}

    class Clock(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # noqa: ANN001
            if batch_idx == cfg.warmup:
                _sync(device)
                times["t0"] = time.perf_counter()

        def on_train_end(self, trainer, pl_module):  # noqa: ANN001
            _sync(device)
            times["t1"] = time.perf_counter()

    ds = _Synthetic(cfg.pool_images, cfg.chans, cfg.img, cfg.classes)
    with _quiet_lightning(None):
        trainer = L.Trainer(max_epochs=1, accelerator="gpu" if device.type == "cuda" else "cpu", devices=1,
                            precision=cfg.precision, callbacks=[Clock()], logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
        trainer.fit(module, _loader(ds, cfg.batch, cfg.warmup + cfg.steps, cfg.workers))
    return cfg.steps * cfg.batch / (times["t1"] - times["t0"])


class _SyntheticMasks(torch.utils.data.Dataset):
    """``n`` random uint8 images with random binary masks, in the dict layout of the segmentation dataset."""

    def __init__(self, n: int, chans: int, size: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randint(0, 256, (n, chans, size, size), dtype=torch.uint8, generator=g)
        self.m = (torch.rand((n, 1, size, size), generator=g) > 0.8).float()

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"image": self.x[i], "mask": self.m[i], "index": i, "bad": False}


def run_segmentation(cfg: argparse.Namespace, backbone: str, device: torch.device) -> float:
    """Images/s of ``model: segmentation`` (smp Unet, timm encoder) under the Lightning Trainer, as the model builds it."""
    import lightning.pytorch as L

    from medalist.vision.model import _quiet_lightning
    from medalist.vision.segmentation import SegmentationParams, _module_class, build_seg_net

    p = SegmentationParams(backbone=backbone, in_chans=cfg.chans, img_size=cfg.img, batch_size=cfg.batch, lr=1e-3,
                           precision=cfg.precision)
    torch.manual_seed(0)
    module = _module_class()(build_seg_net(p), p)
    times: dict[str, float] = {}

    class Clock(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # noqa: ANN001
            if batch_idx == cfg.warmup:
                _sync(device)
                times["t0"] = time.perf_counter()

        def on_train_end(self, trainer, pl_module):  # noqa: ANN001
            _sync(device)
            times["t1"] = time.perf_counter()

    ds = _SyntheticMasks(cfg.pool_images, cfg.chans, cfg.img)
    with _quiet_lightning(None):
        trainer = L.Trainer(max_epochs=1, accelerator="gpu" if device.type == "cuda" else "cpu", devices=1,
                            precision=cfg.precision, callbacks=[Clock()], logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
        trainer.fit(module, _loader(ds, cfg.batch, cfg.warmup + cfg.steps, cfg.workers))  # type: ignore[arg-type]
    return cfg.steps * cfg.batch / (times["t1"] - times["t0"])


def run_detection(cfg: argparse.Namespace) -> float:
    """Images/s of :func:`medalist.vision.detection.fit_detector` (FCOS, fp32) over ``--steps`` batches after a warm-up fit."""
    import polars as pl

    from medalist.vision.detection import DetectorParams, fit_detector

    rng = np.random.default_rng(0)
    n, side = cfg.batch * cfg.steps, cfg.img
    imgs = rng.integers(0, 256, (n, side, side), dtype=np.uint8)
    xy = rng.uniform(0, side * 0.6, (n * 3, 2))
    boxes = pl.DataFrame({"image_id": [f"i{i // 3}" for i in range(n * 3)], "x": xy[:, 0], "y": xy[:, 1],
                          "w": np.full(n * 3, side * 0.3), "h": np.full(n * 3, side * 0.3), "label": rng.integers(0, 3, n * 3)})
    ids = [f"i{i}" for i in range(n)]
    p = DetectorParams(arch="fcos", epochs=1, batch_size=cfg.batch, hflip_train=False)
    warm = cfg.batch * max(cfg.warmup, 1)
    fit_detector(imgs[:warm], ids[:warm], boxes.filter(pl.col("image_id").is_in(ids[:warm])), p)
    _sync(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    t0 = time.perf_counter()
    fit_detector(imgs, ids, boxes, p)
    _sync(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    return n / (time.perf_counter() - t0)


def run_jpeg(cfg: argparse.Namespace) -> float:
    """Images/s the medalist data pipeline reads from JPEG files (decode + resize) with workers."""
    from PIL import Image

    from medalist.vision.augment import build_pipeline
    from medalist.vision.config import ImagesConfig
    from medalist.vision.data import ImageDataset, ImageSource

    n = cfg.jpeg_images
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        side = int(cfg.img * 1.25)  # files a bit larger than the input, as on Kaggle
        base = rng.integers(0, 256, (side // 8, side // 8, 3), dtype=np.uint8)
        for i in range(n):
            img = np.kron(np.roll(base, i, axis=0), np.ones((8, 8, 1), np.uint8))  # compressible, not constant
            Image.fromarray(img).save(Path(tmp) / f"{i}.jpg", quality=90)
        src = ImageSource(ImagesConfig(pattern="{i}.jpg", dirs=[tmp]), in_chans=3)
        import polars as pl

        refs = src.refs(pl.DataFrame({"i": list(range(n))}))
        ds = ImageDataset(src, refs, None, None, build_pipeline([], (cfg.img, cfg.img)), (cfg.img, cfg.img))
        loader = torch.utils.data.DataLoader(ds, batch_size=cfg.batch, num_workers=cfg.workers)
        seen = 0
        t0 = time.perf_counter()
        for b in loader:
            seen += len(b["image"])
        return seen / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["resnet50", "convnext_tiny"])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--img", type=int, default=224)
    ap.add_argument("--chans", type=int, default=3)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--precision", default="bf16-mixed")
    ap.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    ap.add_argument("--modes", nargs="+", default=["eager", "compiled"], choices=["eager", "compiled"])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=15)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--pool-images", type=int, default=512, help="distinct in-memory images cycled through")
    ap.add_argument("--jpeg", action="store_true", help="also measure JPEG decoding images/s")
    ap.add_argument("--jpeg-images", type=int, default=2048)
    ap.add_argument("--seg", action="store_true", help="also measure model: segmentation (smp Unet on the first model) img/s")
    ap.add_argument("--det", action="store_true", help="also measure model: detection (torchvision FCOS) img/s")
    ap.add_argument("--smoke", action="store_true", help="tiny CPU configuration (seconds): resnet10t, 32 px, fp32, eager")
    ap.add_argument("--json", action="store_true")
    cfg = ap.parse_args(argv)
    if cfg.smoke:
        cfg.models, cfg.batch, cfg.img, cfg.classes, cfg.precision = ["resnet10t"], 8, 32, 10, "32-true"
        cfg.modes, cfg.steps, cfg.warmup, cfg.workers, cfg.pool_images, cfg.jpeg_images = ["eager"], 3, 1, 0, 16, 32
        cfg.jpeg = True
        cfg.seg = importlib.util.find_spec("segmentation_models_pytorch") is not None
        cfg.det = True
        torch.set_num_threads(1)  # CI's shared cores: one thread avoids OpenMP spinning
    device = torch.device("cuda" if torch.cuda.is_available() and not cfg.smoke else "cpu")
    rows = []
    for backbone in cfg.models:
        for mode in cfg.modes:
            compiled = mode == "compiled"
            # alternate the sides so drift (clocks, thermals) hits both
            raw = run_raw(cfg, backbone, compiled, device)
            med = run_medalist(cfg, backbone, compiled, device)
            rows.append({"model": backbone, "mode": mode, "raw_img_s": round(raw, 1), "medalist_img_s": round(med, 1),
                         "ratio": round(med / raw, 3)})
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "batch": cfg.batch, "img": cfg.img, "precision": cfg.precision,
        "channels_last": cfg.channels_last, "rows": rows,
    }
    if cfg.jpeg:
        result["jpeg_img_s"] = round(run_jpeg(cfg), 1)
        result["jpeg_workers"] = cfg.workers
    if cfg.seg:
        result["segmentation"] = {"model": f"Unet tu-{cfg.models[0]}", "img_s": round(run_segmentation(cfg, cfg.models[0], device), 1)}
    if cfg.det:
        result["detection"] = {"model": "FCOS (small backbone, 1 channel)", "img_s": round(run_detection(cfg), 1)}
    if cfg.json:
        print(json.dumps(result))
    else:
        print(f"device {result['device']}  torch {result['torch']}  batch {cfg.batch}  {cfg.img}px  {cfg.precision}"
              f"  channels_last={cfg.channels_last}")
        print(f"{'model':<16}{'mode':<10}{'raw img/s':>12}{'medalist img/s':>16}{'ratio':>8}")
        for r in rows:
            print(f"{r['model']:<16}{r['mode']:<10}{r['raw_img_s']:>12.1f}{r['medalist_img_s']:>16.1f}{r['ratio']:>8.3f}")
        if cfg.jpeg:
            print(f"JPEG files -> tensors ({cfg.workers} workers): {result['jpeg_img_s']:.1f} img/s")
        if cfg.seg:
            seg = result["segmentation"]
            print(f"{'segmentation':<16}{seg['model']:<26}{seg['img_s']:>16.1f} img/s (medalist, image + mask)")
        if cfg.det:
            print(f"{'detection':<16}{result['detection']['model']:<34}{result['detection']['img_s']:>10.1f} img/s (medalist, image + boxes)")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
