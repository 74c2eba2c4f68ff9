"""Batch inference with test-time augmentation: flips on the batch, plus n random-augmentation passes.

Every view's probabilities are averaged with equal weight. With k random transforms applied with
p = 0.5, n random passes see every one of them at least once with probability (1 − 0.5^n)^k
(:func:`medalist.vision.augment.tta_coverage`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from medalist.vision.net import ImageNet, logits_to_pred

__all__ = ["predict_loader", "tta_views"]


def tta_views(hflip: bool, vflip: bool) -> list[tuple[bool, bool]]:
    """Deterministic views: the identity, then the configured flips.

    >>> tta_views(True, False)
    [(False, False), (True, False)]
    """
    views = [(False, False)]
    if hflip:
        views.append((True, False))
    if vflip:
        views.append((False, True))
    return views


def _autocast(device: torch.device, precision: str) -> Any:
    if "bf16" in precision:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if "16" in precision and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


@torch.inference_mode()
def predict_loader(net: ImageNet, loader: Any, *, task: str, loss: str, device: torch.device, precision: str,
                   channels_last: bool, views: list[tuple[bool, bool]], on_bad: Callable[[list[int]], None] | None = None) -> np.ndarray:
    """Mean prediction over ``views`` (hflip, vflip) for every row of ``loader``, in row order."""
    net.eval()
    parts = []
    for batch in loader:
        if on_bad is not None and bool(batch["bad"].any()):
            on_bad(batch["index"][batch["bad"]].tolist())
        x = batch["image"].to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = net.normalize(x)
        tab = batch["tab"].to(device, non_blocking=True) if "tab" in batch else None
        acc = None
        with _autocast(device, precision):
            for h, v in views:
                dims = [d for d, on in ((3, h), (2, v)) if on]
                xv = torch.flip(x, dims) if dims else x
                logits, _ = net(xv, normalized=True, tab=tab)
                p = logits_to_pred(logits, task, loss).float()
                acc = p if acc is None else acc + p
        parts.append((acc / len(views)).cpu().numpy())  # type: ignore[operator]
    return np.concatenate(parts, axis=0).astype(np.float64)
