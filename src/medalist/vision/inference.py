"""Prediction of a fitted image model on one chunk of rows: the plain pass with its flip views, the
random-augmentation TTA passes, and the refusal when too many images are unreadable."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import DataError
from medalist.vision.trainer import quiet_lightning, require

__all__ = ["predict_chunk", "tta_coverage_of"]

log = logging.getLogger("medalist.vision")


def predict_chunk(model: Any, chunk: pl.DataFrame) -> np.ndarray:
    """``model``'s predictions for ``chunk``: the weighted mean over all TTA passes and views."""
    require()
    import torch

    from medalist.vision.augment import build_pipeline
    from medalist.vision.data import ImageSource

    p = model.p
    size = p.size()
    source = ImageSource(p.images, p.in_chans)
    refs = source.refs(chunk, "frame to predict")
    if not hasattr(model, "valid_tf_"):
        model.train_tf_ = build_pipeline(p.augment, size)
        model.valid_tf_ = build_pipeline(p.valid_augment, size, where="model.params.valid_augment")
    device = model._device()
    net = model.net_.to(device)
    if p.channels_last:
        net = net.to(memory_format=torch.channels_last)
    bad: list[int] = []
    kw = dict(task=model.task_, loss=model.loss_, device=device, precision=getattr(model, "precision_", "32-true"),
              channels_last=p.channels_last, on_bad=bad.extend)
    from medalist.vision.loaders import tab_values

    tab = tab_values(p, chunk, getattr(model, "tab_stats_", None), "frame to predict")
    with quiet_lightning(getattr(model, "threads_", None)):
        passes = _tta_passes(model, net, source, refs, size, kw, tab)
    model.net_ = net.cpu()
    if bad:
        _check_unreadable(p, source, refs, bad)
    total = sum(w for _, w in passes)
    return sum(pred * w for pred, w in passes) / total


def _tta_passes(model: Any, net: Any, source: Any, refs: list, size: Any, kw: dict[str, Any],
                tab: np.ndarray | None = None) -> list[tuple[np.ndarray, int]]:
    """(predictions, weight) per pass: the validation transforms over the flip views, then ``tta.n``
    seeded passes of the training augmentations."""
    import torch

    from medalist.vision.data import ImageDataset
    from medalist.vision.tta import predict_loader, tta_views

    p = model.p
    passes = []
    views = tta_views(p.tta.hflip, p.tta.vflip)
    ds = ImageDataset(source, refs, None, None, model.valid_tf_, size, tab=tab)
    passes.append((predict_loader(net, model._loader(ds, train=False), views=views, **kw), len(views)))
    for i in range(p.tta.n):
        torch.manual_seed(i)
        np.random.seed(i)
        ds = ImageDataset(source, refs, None, None, model.train_tf_, size, tab=tab)
        passes.append((predict_loader(net, model._loader(ds, train=False), views=[(False, False)], **kw), 1))
    return passes


def _check_unreadable(p: Any, source: Any, refs: list, bad: list[int]) -> None:
    """Warn about images replaced by blanks; refuse when more than ``max_bad_fraction`` were."""
    examples = ", ".join(source.describe(refs[i]) for i in sorted(set(bad))[:3])
    n_bad = len(set(bad))
    log.warning("%d of %d images unreadable at prediction (blank image used), e.g. %s", n_bad, len(refs), examples)
    if n_bad / len(refs) > p.max_bad_fraction:
        raise DataError("images to predict", expected=f"at most {p.max_bad_fraction:.1%} unreadable",
                        found=f"{n_bad} of {len(refs)} unreadable, e.g. {examples}",
                        fix="re-export the broken files, or raise model.params.max_bad_fraction")


def tta_coverage_of(p: Any) -> float | None:
    """Chance that ``tta.n`` random passes apply every random transform at least once; None: no random TTA."""
    from medalist.vision.augment import random_probabilities, tta_coverage

    if not p.tta.n:
        return None
    ps = random_probabilities(p.augment)
    coverage = tta_coverage(p.tta.n, ps)
    log.info("random TTA: n=%d passes over k=%d random transforms cover all with p=%.3f", p.tta.n, len(ps), coverage)
    return coverage
