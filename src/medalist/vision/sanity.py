"""``medalist sanity CONFIG``: overfit one batch; a pipeline that cannot is broken.

The batch goes through the real pipeline (image source, decode, the validation transform, the
network with its heads and losses); only randomness is removed (no augmentation, no mixup) so a
correct pipeline drives the loss towards zero within a few dozen steps.

>>> # result = overfit_one_batch(Workspace.find(), Path("configs/convnext.yaml"))
>>> # result["last"] / result["first"]   # well below 0.5
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medalist.core.errors import ConfigError, RunError

__all__ = ["judge_losses", "overfit_one_batch", "overfit_one_seg_batch", "overfit_steps"]


def overfit_one_batch(ws: Any, config: Path, overrides: list[str] | None = None, *, steps: int = 50,
                      batch_size: int | None = None, max_ratio: float = 0.5, lr: float | None = None,
                      on_step: Any = None) -> dict[str, Any]:
    """Train the config's network on its first ``batch_size`` training rows for ``steps`` steps.

    Returns ``{"losses": [...], "first": l0, "last": l_end, "ratio": l_end / l0, "rows": n}``;
    raises :class:`~medalist.core.errors.RunError` when the loss does not fall below ``max_ratio`` × its
    start.
    """
    from medalist.core.config import load_experiment
    from medalist.models import FitContext, create_model
    from medalist.vision.model import TimmImageModel
    from medalist.vision.trainer import quiet_lightning
    from medalist.workspace.data import load_competition_data

    exp, _ = load_experiment(Path(config), overrides)
    model = create_model(exp.model.name, exp.model.params, **exp.model.options)
    if model.registered_name == "segmentation":
        return overfit_one_seg_batch(ws, config, exp, model, steps=steps, batch_size=batch_size, max_ratio=max_ratio, lr=lr,
                                     on_step=on_step)
    if not isinstance(model, TimmImageModel) or model.registered_name != "timm_image":
        raise ConfigError(f"{config}: model.name", expected="an image model (timm_image) or model: segmentation",
                          found=f"'{exp.model.name}'",
                          fix="`medalist sanity` picks the signal check for model: signal "
                              "(medalist.signal.sanity.overfit_one_signal_batch); other models have no one-batch check")
    data = load_competition_data(ws, exp.columns, weight=exp.weight)
    p = model.p.model_copy(update={"mix": None, "drop": 0.0})
    n = min(batch_size or min(p.batch_size, 16), data.train.height)
    rows = data.train.head(n)
    ctx = FitContext(task=data.task, target=data.target, features=data.features, n_classes=data.n_classes, seed=exp.seeds[0])
    model._start_fit(rows, ctx)
    batch, aux_out = _one_batch(model, p, rows, ctx)
    with quiet_lightning(exp.threads):
        losses = _train_on_batch(model, p, aux_out, batch, ctx, steps=steps, lr=lr, on_step=on_step)
    return judge_losses(config, losses, n, max_ratio, "labels vs images, the loss for the task, the transforms")


def judge_losses(config: Any, losses: list[float], n: int, max_ratio: float, what: str) -> dict[str, Any]:
    """The sanity result of ``losses`` on one batch of ``n`` rows; RunError unless the end (mean of the
    last three) is below ``max_ratio`` × the start. ``what``: the parts of the pipeline to check."""
    first, last = losses[0], float(np.mean(losses[-3:]))
    result = {"losses": losses, "first": first, "last": last, "ratio": last / first if first else float("nan"), "rows": n}
    if not (last <= max_ratio * first):
        raise RunError(
            f"sanity check of {config}",
            expected=f"the loss on one batch of {n} rows to fall below {max_ratio:.0%} of its start in {len(losses)} steps",
            found=f"{first:.4f} -> {last:.4f}",
            fix=f"the pipeline is broken or the LR is off: check {what} and model.params.lr",
        )
    return result


def _one_batch(model: Any, p: Any, rows: Any, ctx: Any) -> tuple[dict[str, Any], list[int]]:
    """``rows`` through the real image source and validation transform, collated; and the aux head widths."""
    import torch

    from medalist.vision.augment import build_pipeline
    from medalist.vision.data import ImageDataset, ImageSource
    from medalist.vision.loaders import (
        aux_classes,
        aux_widths,
        soft_targets,
        tab_stats,
        tab_values,
    )

    source = ImageSource(p.images, p.in_chans)
    size = p.size()
    aux = model._aux_values(rows, "training rows")
    aux_out = aux_widths(p, aux, getattr(model, "aux_classes_", None) or aux_classes(p, rows))
    ds = ImageDataset(source, source.refs(rows, "training rows"), soft_targets(ctx.y(rows), ctx.task, model.n_classes_),
                      aux, build_pipeline(p.valid_augment, size), size,
                      tab=tab_values(p, rows, tab_stats(p, rows), "training rows") if p.tabular else None)
    batch = torch.utils.data.default_collate([ds[i] for i in range(len(ds))])
    if bool(batch["bad"].any()):
        raise RunError("sanity batch", expected="readable images", found=f"{int(batch['bad'].sum())} unreadable of {len(ds)}",
                       fix="fix the image files first")
    return batch, aux_out


def _train_on_batch(model: Any, p: Any, aux_out: list[int], batch: dict[str, Any], ctx: Any, *, steps: int,
                    lr: float | None, on_step: Any) -> list[float]:
    """The training loss after each of ``steps`` AdamW steps on the same batch."""
    import torch

    from medalist.vision.module import ImageModule
    from medalist.vision.net import build_net, n_outputs

    torch.manual_seed(ctx.seed)
    loss = p.resolved_loss(ctx.task)
    net = build_net(p, n_outputs(ctx.task, loss, model._width()), aux_out)
    module = ImageModule(net, p, ctx.task, loss, p.aux)

    def loss_of_batch() -> Any:
        logits, aux_logits = net(net.normalize(batch["image"]), normalized=True, tab=batch.get("tab"))
        return module._losses("train", logits, aux_logits, batch["target"], batch.get("aux"), ~batch["bad"])[0]

    return overfit_steps(net, loss_of_batch, n_rows=len(batch["bad"]), lr=lr or p.resolved_head_lr(), steps=steps,
                         on_step=on_step)


def overfit_steps(net: Any, loss_of_batch: Any, *, n_rows: int, lr: float, steps: int, on_step: Any = None) -> list[float]:
    """The loss ``loss_of_batch()`` returns after each of ``steps`` AdamW steps (no weight decay) on ``net``;
    ``on_step(step, loss)`` after each. With one row the BatchNorms use their running statistics."""
    import torch

    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    net.train()
    if n_rows == 1:  # batch statistics of a single sample are degenerate; use the running ones
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()
    losses = []
    for step in range(steps):
        total = loss_of_batch()
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        losses.append(float(total.detach()))
        if on_step is not None:
            on_step(step, losses[-1])
    return losses


def overfit_one_seg_batch(ws: Any, config: Any, exp: Any, model: Any, *, steps: int = 50,
                          batch_size: int | None = None, max_ratio: float = 0.5, lr: float | None = None,
                          on_step: Any = None) -> dict[str, Any]:
    """``medalist sanity`` for ``model: segmentation``: the first rows' images and masks through the real
    sources and validation transform, the configured losses driven down on that one batch."""
    import torch

    from medalist.vision.segmentation import _losses, _require, build_seg_net
    from medalist.vision.trainer import quiet_lightning
    from medalist.workspace.data import load_competition_data

    _require()
    data = load_competition_data(ws, exp.columns, weight=exp.weight)
    p = model.p
    rows = data.train.head(min(batch_size or min(p.batch_size, 16), data.train.height))
    ds = model._datasets(rows, "training rows", train=False)
    batch = torch.utils.data.default_collate([ds[i] for i in range(len(ds))])
    torch.manual_seed(exp.seeds[0])
    net = build_seg_net(p.model_copy(update={"pretrained": False}) if p.pretrained is True else p)
    losses = _losses(p)

    def loss_of_batch() -> Any:
        logits = net(batch["image"]).float()
        return sum(w * fn(logits, batch["mask"]) for fn, w in losses)

    with quiet_lightning(exp.threads):
        got = overfit_steps(net, loss_of_batch, n_rows=rows.height, lr=lr or p.resolved_head_lr(), steps=steps, on_step=on_step)
    return judge_losses(config, got, rows.height, max_ratio, "masks vs images (masks.rle/order, sizes), the transforms")
