"""``medalist sanity CONFIG`` for ``model: signal``: overfit one batch of signals.

The batch goes through the real pipeline (signal source, length fixing, scaling, every branch's
front-end and network, the branch and final heads and their losses) with randomness removed (no
mixup, no SpecAugment, no dropout), so a correct pipeline drives the loss down within a few dozen
steps; one that cannot is broken (labels vs signals, a front-end that destroys the signal, the loss).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medalist.core.errors import ConfigError

__all__ = ["overfit_one_signal_batch"]


def overfit_one_signal_batch(ws: Any, config: Path, overrides: list[str] | None = None, *, steps: int = 50,
                             batch_size: int | None = None, max_ratio: float = 0.5, lr: float | None = None,
                             on_step: Any = None) -> dict[str, Any]:
    """Train the config's signal network on its first ``batch_size`` training rows for ``steps`` AdamW steps.

    Returns ``{"losses", "first", "last", "ratio", "rows"}`` like the image check
    (:func:`medalist.vision.sanity.overfit_one_batch`); RunError when the loss does not fall below
    ``max_ratio`` × its start.
    """
    from medalist.core.config import load_experiment
    from medalist.models import FitContext, create_model
    from medalist.signal.model import SignalModel, _check_votes, _require
    from medalist.vision.sanity import judge_losses
    from medalist.vision.trainer import quiet_lightning
    from medalist.workspace.data import load_competition_data

    exp, _ = load_experiment(Path(config), overrides)
    model = create_model(exp.model.name, exp.model.params, **exp.model.options)
    if not isinstance(model, SignalModel):
        raise ConfigError(f"{config}: model.name", expected="a signal model (signal)", found=f"'{exp.model.name}'",
                          fix="run the signal check on a signal config")
    _require(model.p)
    data = load_competition_data(ws, exp.columns, weight=exp.weight)
    p = model.p.model_copy(update={"mix": None, "spec_augment": None, "drop": 0.0})
    n = min(batch_size or min(p.batch_size, 16), data.train.height)
    rows = data.train.head(n)
    ctx = FitContext(task=data.task, target=data.target, features=data.features, n_classes=data.n_classes, seed=exp.seeds[0])
    model._start_fit(rows, ctx)
    _check_votes(p, ctx)
    loss = p.loss or ("kl" if p.votes or ctx.task == "distribution" else p.resolved_loss(ctx.task))
    x = model._waveforms(rows, "training rows", p.length)
    y, _ = model._targets(rows, ctx, "training rows")
    provided = model._provided(rows, "training rows")
    with quiet_lightning(exp.threads):
        losses = _train(p, model, ctx, loss, x, y, provided, steps=steps, lr=lr, on_step=on_step)
    return judge_losses(config, losses, n, max_ratio, "labels vs signals, each branch's front-end (signal-preview), the loss")


def _train(p: Any, model: Any, ctx: Any, loss: str, x: np.ndarray, y: np.ndarray, provided: dict[str, np.ndarray], *,
           steps: int, lr: float | None, on_step: Any) -> list[float]:
    """The training loss (final + branch losses) after each of ``steps`` AdamW steps on one batch."""
    import torch

    from medalist.signal.data import SignalDataset
    from medalist.signal.module import SignalModule
    from medalist.signal.net import build_signal_net
    from medalist.vision.net import n_outputs
    from medalist.vision.sanity import overfit_steps

    torch.manual_seed(ctx.seed)
    net = build_signal_net(p, int(x.shape[1]), int(x.shape[-1]), n_outputs(ctx.task, loss, model._width()),
                           {k: tuple(v.shape[1:]) for k, v in provided.items()})
    ds = SignalDataset(x, y, provided)
    module = SignalModule(net, p, ctx.task, loss, stages=[(1, np.arange(len(x)), "all")], train_ds=ds, valid_ds=None,
                          loader=None)
    xb, yb = torch.from_numpy(x), torch.from_numpy(np.asarray(y, dtype=np.float32))
    pb = {k: torch.from_numpy(v) for k, v in provided.items()}

    def loss_of_batch() -> Any:
        logits, branch_logits = net(xb, provided=pb)
        return module._signal_losses("train", logits, branch_logits, yb)[0]

    return overfit_steps(net, loss_of_batch, n_rows=len(x), lr=lr or p.resolved_head_lr(), steps=steps, on_step=on_step)
