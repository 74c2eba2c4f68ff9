"""Weight averages that warm up, and the checks that say when a fit has too few optimizer steps.

* EMA: the average starts as the first step's weights; a fixed decay of 0.999 would still hold
  0.999**96 = 91 % of those near-random weights after 96 steps (a chance-level model while the train
  loss falls). The decay of update ``n`` is therefore ``min(decay, (1 + n) / (10 + n))`` (TensorFlow's
  ``num_updates`` rule, timm's EMA warmup in spirit): the average's horizon grows with the steps taken,
  and the configured decay only applies once ``n`` is past ~``decay / (1 - decay)`` steps.
* SWA: the equal-weight average of the end-of-epoch weights from ``epoch_start`` on, updated at the
  last batch of an epoch (so that epoch's validation scores the average that includes it).
* Both: while nothing has been averaged (SWA before its first epoch), validation and the final
  weights are the current ones, never the untrained copy the average starts from.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from lightning.pytorch.callbacks import WeightAveraging

__all__ = ["MIN_STEPS", "warmup_decay", "ema_callback", "swa_callback", "swa_start", "check_steps", "evaluated_state"]

log = logging.getLogger("medalist.vision")

# Below this many optimizer steps a fresh head trained by AdamW under the warmup-cosine schedule
# barely leaves chance: measured on Fashion-MNIST 32 px (test_efficientnet, lr 0.01), 8 steps give
# chance-level log loss and ~90 steps a usable model. The warning names the step count and the fix.
MIN_STEPS = 50


def warmup_decay(decay: float, updates: int) -> float:
    """EMA decay for an update after ``updates`` earlier ones: ``min(decay, (1 + n) / (10 + n))``.

    >>> [round(warmup_decay(0.999, n), 3) for n in (0, 10, 96, 10_000)]
    [0.1, 0.55, 0.915, 0.999]
    """
    return min(decay, (1.0 + updates) / (10.0 + updates))


class _Averaging(WeightAveraging):
    """Lightning's WeightAveraging, except that an empty average (nothing averaged yet) is never
    swapped in for validation nor copied over the trained weights at the end."""

    _swapped = False
    evaluated = False  # whether the last validation pass scored the average (kept after it is swapped back)

    def _ready(self) -> bool:
        return self._average_model is not None and int(self._average_model.n_averaged) > 0

    def on_validation_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._swapped = self.evaluated = self._ready()
        if self._swapped:
            self._swap_models(pl_module)

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self._swapped:
            self._swap_models(pl_module)
            self._swapped = False

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self._ready():
            self._copy_average_to_current(pl_module)


def evaluated_state(trainer: Any, module: Any) -> dict[str, Any]:
    """A CPU copy of the net weights the last validation pass scored: the average of an averaging
    callback that had it swapped in (Lightning swaps it back before the module's epoch-end hook), else
    the module's own."""
    net = module.net
    for cb in getattr(trainer, "callbacks", []):
        if isinstance(cb, _Averaging) and cb.evaluated and cb._average_model is not None:
            net = cb._average_model.module.net
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


class WarmupEMA(_Averaging):
    """EMA of the weights (and buffers) after every optimizer step, with :func:`warmup_decay`."""

    def __init__(self, decay: float) -> None:
        self.decay = decay
        self.updates = 0  # updates made so far: the ``n`` of warmup_decay
        super().__init__(multi_avg_fn=self._average)

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        if step_idx is None:
            return False
        self.updates = step_idx  # called once per optimizer step, right before the update
        return True

    @torch.no_grad()
    def _average(self, averaged: list[torch.Tensor], current: list[torch.Tensor], _n: Any) -> None:
        # one Python float per step: no host sync on the averaged model's step counter
        d = warmup_decay(self.decay, self.updates)
        if torch.is_floating_point(averaged[0]):
            torch._foreach_lerp_(averaged, current, 1.0 - d)
        else:  # integer buffers (BatchNorm's num_batches_tracked): the current value
            for a, c in zip(averaged, current):
                a.copy_(c)


class EpochSWA(_Averaging):
    """Equal-weight average of the weights at the end of each epoch from epoch ``start`` (0-based) on."""

    def __init__(self, start: int) -> None:
        self.start = start
        super().__init__()

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        return False  # updated in on_train_batch_end, at the last batch of an epoch

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if trainer.current_epoch >= self.start and trainer.is_last_batch and self._average_model is not None:
            self._average_model.update_parameters(pl_module)


def ema_callback(decay: float) -> WarmupEMA:
    """The EMA callback of a fit (see :func:`warmup_decay`)."""
    return WarmupEMA(decay)


def swa_start(epoch_start: float, epochs: int) -> int:
    """First averaged epoch (0-based): a fraction (< 1) of ``epochs`` or an epoch number, at most the last.

    >>> swa_start(0.75, 8), swa_start(3, 8), swa_start(12, 8)
    (6, 3, 7)
    """
    start = int(epoch_start * epochs) if epoch_start < 1 else int(epoch_start)
    if start > epochs - 1:
        log.warning("swa.epoch_start %s is past the last of %d epochs: SWA averages the last epoch only "
                    "(it would otherwise keep the untrained weights)", epoch_start, epochs)
        start = epochs - 1
    return start


def swa_callback(epoch_start: float, epochs: int) -> EpochSWA:
    """The SWA callback of a fit of ``epochs`` epochs."""
    return EpochSWA(swa_start(epoch_start, epochs))


def check_steps(p: Any, total: int, epochs: int) -> list[str]:
    """Warnings for a fit of ``total`` optimizer steps over ``epochs`` epochs (also logged).

    Too few steps for the schedule (< :data:`MIN_STEPS`), and an EMA whose configured decay has a
    horizon ``1 / (1 - decay)`` longer than the fit (the warmup then decides the average).
    """
    out = []
    per_epoch = total / max(epochs, 1)
    if total < MIN_STEPS:
        out.append(f"only {total} optimizer steps ({epochs} epochs x {per_epoch:.3g} steps): under {MIN_STEPS}, "
                   f"a warmup-cosine schedule barely moves a fresh head and the model may stay at chance; "
                   f"lower batch_size/accumulate or raise epochs")
    ema = getattr(p, "ema", None)
    if ema is not None:
        horizon = 1.0 / (1.0 - ema.decay)
        if horizon > total:
            end = warmup_decay(ema.decay, max(total - 1, 0))
            fit = 1 - 10 / total if total > 20 else None
            advice = (f"set ema.decay <= {fit:.3f} (a horizon of a tenth of the fit) to make it apply" if fit is not None
                      else "the fit is too short for an average to help: remove ema")
            out.append(f"ema.decay {ema.decay} averages over ~{horizon:.0f} steps but the fit takes {total}: the warmup "
                       f"min(decay, (1+n)/(10+n)) decides it (decay {end:.3f} at the last step, ~{1 / (1 - end):.0f} "
                       f"steps); {advice}")
    for msg in out:
        log.warning(msg)
    return out
