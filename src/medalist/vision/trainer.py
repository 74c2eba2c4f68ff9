"""The Lightning side of an image (or signal) fit: dependency check, quiet logging, precision and
device choice, and the Trainer with its EMA/SWA weight-averaging callbacks."""

from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Any

from medalist.core import optional
from medalist.models.protocol import FitContext

__all__ = ["require", "quiet_lightning", "resolve_precision", "device_for", "build_trainer", "record_epoch"]

log = logging.getLogger("medalist.vision")


def record_epoch(history: list[dict[str, float]], log_fn: Any, name: str, value: float, epoch: int) -> None:
    """Send one epoch value to the run's curve logger (``log_fn``) and keep it in ``history``, one row per epoch.

    >>> h = []
    >>> record_epoch(h, None, "train_loss", 0.5, 1); record_epoch(h, None, "valid_loss", 0.4, 1)
    >>> h
    [{'epoch': 1, 'train_loss': 0.5, 'valid_loss': 0.4}]
    """
    if log_fn is not None:
        log_fn(name, float(value), epoch)
    if history and history[-1].get("epoch") == epoch:
        history[-1][name] = float(value)
    else:
        history.append({"epoch": epoch, name: float(value)})


def require() -> None:
    """Fail with the install hint when a package of the vision extra is missing."""
    for pkg in ("torch", "timm", "lightning", "albumentations"):
        optional.require(pkg, extra="vision", purpose="model 'timm_image'")


@contextlib.contextmanager
def quiet_lightning(threads: int | None):
    import torch

    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # Lightning's advice about worker counts and logging is noise inside a CV loop.
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*(LightningModule.log|log_every_n_steps|GPU available|TPU|HPU).*")
            warnings.filterwarnings("ignore", category=UserWarning, module="lightning")
            warnings.filterwarnings("ignore", message=".*(LeafSpec|litlogger|limit_val_batches).*")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)
        torch.set_num_threads(old_threads)


def resolve_precision(p: Any) -> str:
    """``p.precision``, or bf16-mixed on a GPU that supports it, else full precision (always for maxvit)."""
    import torch

    if p.precision is not None:
        if "maxvit" in p.backbone and p.precision != "32" and "32" not in p.precision:
            log.warning("maxvit with %s: AMP is known to make its loss explode; precision: 32 is safer", p.precision)
        return p.precision
    if "maxvit" in p.backbone:
        return "32-true"
    on_gpu = torch.cuda.is_available() and p.accelerator in ("auto", "gpu", "cuda")
    return "bf16-mixed" if on_gpu and torch.cuda.is_bf16_supported() else "32-true"


def device_for(p: Any) -> Any:
    """The torch device predictions run on: CUDA when available and allowed by ``p.accelerator``."""
    import torch

    if torch.cuda.is_available() and p.accelerator in ("auto", "gpu", "cuda"):
        return torch.device("cuda")
    return torch.device("cpu")


def build_trainer(p: Any, epochs: int, precision: Any, ctx: FitContext, *, validate: bool, **extra: Any) -> Any:
    """The Lightning Trainer of a fit: EMA/SWA callbacks (:mod:`medalist.vision.averaging`), precision, accumulation, clipping, devices."""
    import lightning.pytorch as L

    from medalist.vision.averaging import ema_callback, swa_callback
    from medalist.vision.ddp import cv_strategy

    callbacks: list[Any] = []
    ema = p.resolved_ema()
    if ema is not None:
        callbacks.append(ema_callback(ema.decay))
    if p.swa is not None:
        callbacks.append(swa_callback(p.swa.epoch_start, epochs))
    return L.Trainer(
        max_epochs=epochs, accelerator=p.accelerator, devices=p.devices, strategy=cv_strategy(p.strategy, p.accelerator),
        num_nodes=p.num_nodes, precision=precision, accumulate_grad_batches=p.accumulate,
        gradient_clip_val=p.grad_clip, callbacks=callbacks, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        limit_val_batches=None if validate else 0,
        default_root_dir=str(ctx.workdir) if ctx.workdir else None, **extra,
    )

