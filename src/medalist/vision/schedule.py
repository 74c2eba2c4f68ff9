"""The LR schedule of image and signal fits: linear warmup, then cosine decay to 0, per optimizer step.

timm's ``CosineLRScheduler`` (``warmup_prefix=True``, ``t_in_epochs=False``) does it; Lightning
steps it through :meth:`ImageModule.lr_scheduler_step`. Its values equal
:func:`medalist.vision.module.cosine_with_warmup` × each group's LR (tests/vision/test_finetune.py).
"""

from __future__ import annotations

from typing import Any

__all__ = ["warmup_cosine"]


def warmup_cosine(optimizer: Any, total_steps: int, warmup: float) -> Any:
    """A timm scheduler: LR 0 → each group's LR over round(``warmup`` × ``total_steps``) steps, then
    cosine to 0 at ``total_steps``; call ``step_update(k)`` after the k-th optimizer step.

    >>> import torch
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> s = warmup_cosine(opt, 100, 0.1)
    >>> lrs = []
    >>> for k in (5, 10, 55, 100):
    ...     s.step_update(k); lrs.append(round(opt.param_groups[0]["lr"], 3))
    >>> lrs
    [0.5, 1.0, 0.5, 0.0]
    """
    from timm.scheduler import CosineLRScheduler

    total = max(int(total_steps), 1)
    warm = int(round(total * warmup))
    return CosineLRScheduler(optimizer, t_initial=max(total - warm, 1), lr_min=0.0, warmup_t=warm, warmup_lr_init=0.0,
                             warmup_prefix=True, t_in_epochs=False, cycle_limit=1)
