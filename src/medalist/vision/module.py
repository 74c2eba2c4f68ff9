"""The LightningModule: one training step (mixup/cutmix, target + weighted aux losses), per-epoch
logging of each loss, the metric and the LR, AdamW with separate backbone/head LRs and a cosine
schedule with warmup (timm's CosineLRScheduler). AMP, DDP, accumulation and clipping are Trainer flags, not code here.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import lightning.pytorch as L
import numpy as np
import torch

from medalist.core.errors import DataError
from medalist.vision.averaging import check_steps, evaluated_state
from medalist.vision.augment import mix_batch
from medalist.vision.config import AuxHead, VisionParams
from medalist.vision.ddp import gather_valid, save_handoff
from medalist.vision.memory import peak_gpu_memory_gb
from medalist.vision.schedule import warmup_cosine
from medalist.vision.net import ImageNet, aux_loss, logits_to_pred, per_sample_loss, weighted_mean
from medalist.vision.selection import EpochSelector
from medalist.vision.trainer import record_epoch

__all__ = ["ImageModule", "cosine_with_warmup"]

log = logging.getLogger("medalist.vision")


def cosine_with_warmup(total_steps: int, warmup: float) -> Callable[[int], float]:
    """LR multiplier: linear warmup over ``warmup`` × total steps, then cosine decay to 0 (the formula;
    fits run timm's scheduler, :func:`medalist.vision.schedule.warmup_cosine`, which matches it).

    >>> f = cosine_with_warmup(100, 0.1)
    >>> [round(f(s), 3) for s in (0, 5, 10, 55, 100)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    warm = int(round(total_steps * warmup))

    def f(step: int) -> float:
        if step < warm:
            return step / max(warm, 1)
        progress = (step - warm) / max(total_steps - warm, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return f


def _init_from_run(net: torch.nn.Module, run_id: str) -> None:
    """Start ``net`` from run ``run_id``'s weights; tensors of another shape (a head) stay fresh."""
    from medalist.vision.finetune import init_weights_of_run, load_matching

    loaded, fresh = load_matching(net, init_weights_of_run(run_id))
    if not loaded:
        raise DataError(f"model.params.init_from '{run_id}'", expected="weights with names and shapes of this network",
                        found="no tensor in common", fix="pretrain with the same backbone (and in_chans)")
    log.info("init_from %s: %d tensors loaded, %d kept fresh (%s)", run_id, len(loaded), len(fresh), ", ".join(fresh[:4]))


class ImageModule(L.LightningModule):
    """Training logic around an :class:`~medalist.vision.net.ImageNet`."""

    def __init__(self, net: ImageNet, p: VisionParams, task: str, loss: str, aux: list[AuxHead], *,
                 metric: Any = None, valid_y: np.ndarray | None = None, log_fn: Callable[[str, float, int], None] | None = None,
                 describe: Callable[[str, int], str] | None = None, seed: int = 0, n_scored: int | None = None) -> None:
        super().__init__()
        if getattr(p, "init_from", None):
            _init_from_run(net, p.init_from)
        self.net = net
        # Compiled forward kept outside the module tree: the saved state_dict stays the plain net's.
        object.__setattr__(self, "_forward", torch.compile(net) if p.compile else net)
        self.p, self.task, self.loss_name, self.aux = p, task, loss, aux
        self.metric, self.valid_y, self.log_fn = metric, valid_y, log_fn
        self.describe = describe or (lambda stage, i: f"{stage} row {i}")
        self.mix_gen = torch.Generator().manual_seed(seed)
        self.history: list[dict[str, float]] = []
        self.bad: dict[str, list[int]] = {"train": [], "valid": []}
        self.seen: dict[str, int] = {"train": 0, "valid": 0}
        self.last_valid: dict[str, np.ndarray] = {}
        # validation rows at positions >= n_scored are the inner selection slice (select_split: inner)
        self.n_scored = n_scored
        self.selector = EpochSelector(p.select, metric, inner=n_scored is not None)
        self.step_warnings: list[str] = []
        self.handoff: Any = None  # a file: this fit runs its own DDP ranks, rank 0 leaves its state there
        self._reset("train")
        self._reset("valid")

    # -- bookkeeping -------------------------------------------------------------------------

    def _reset(self, stage: str) -> None:
        setattr(self, f"_{stage}_sums", {})
        self.bad[stage] = []
        self.seen[stage] = 0
        if stage == "valid":
            self._valid_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        else:
            self._t0 = time.perf_counter()

    def _add(self, stage: str, name: str, value: torch.Tensor, n: torch.Tensor | int) -> None:
        # Sums stay on the device: no host sync per step.
        sums = getattr(self, f"_{stage}_sums")
        v = value.detach().float() * n
        if name in sums:
            sums[name][0] += v
            sums[name][1] += n
        else:
            sums[name] = [v, n if isinstance(n, int) else n.clone()]

    def _emit(self, name: str, value: float, epoch: int) -> None:
        record_epoch(self.history, self.log_fn, name, value, epoch)

    def on_before_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        # Still on the host: count unreadable images without a device sync.
        stage = "train" if self.trainer.training else "valid"
        bad = batch["bad"]
        self.seen[stage] += int(bad.shape[0])
        if bool(bad.any()):
            self.bad[stage].extend(batch["index"][bad].tolist())
        return batch

    def _check_bad(self, stage: str, epoch: int) -> None:
        n_bad, seen = len(self.bad[stage]), max(self.seen[stage], 1)
        self._emit(f"{stage}_bad_images", n_bad, epoch)
        if not n_bad:
            return
        examples = ", ".join(self.describe(stage, i) for i in self.bad[stage][:3])
        log.warning("epoch %d: %d of %d %s images unreadable and skipped, e.g. %s", epoch, n_bad, seen, stage, examples)
        if n_bad / seen > self.p.max_bad_fraction:
            raise DataError(f"{stage} images", expected=f"at most {self.p.max_bad_fraction:.1%} unreadable per epoch",
                            found=f"{n_bad} of {seen} unreadable, e.g. {examples}",
                            fix="re-export the broken files, or raise model.params.max_bad_fraction")

    # -- steps -------------------------------------------------------------------------------

    def _inputs(self, batch: dict[str, Any]) -> torch.Tensor:
        x = batch["image"]
        if self.p.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net.normalize(x)

    def _losses(self, stage: str, logits: torch.Tensor, aux_logits: list[torch.Tensor], target: torch.Tensor,
                aux: torch.Tensor | None, good: torch.Tensor, weight: torch.Tensor | None = None,
                scored: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Target loss (+ weighted aux losses): per-sample ``weight`` (the experiment's ``weight:``
        column) makes each a weighted mean; the returned per-row losses are unweighted. Rows outside
        ``scored`` (the inner selection slice) get per-row losses but stay out of the logged means."""
        rows = per_sample_loss(logits, target, self.task, self.loss_name, self.p.focal_gamma) * good
        if scored is not None:
            good = good & scored
        target_loss, n = weighted_mean(rows, good, weight)
        total = target_loss
        self._add(stage, "target_loss", target_loss, n)
        for j, spec in enumerate(self.aux):
            per, mask = aux_loss(aux_logits[j], aux[:, j], spec.loss)  # type: ignore[index]
            a, m = weighted_mean(per, mask & good, weight)
            total = total + spec.weight * a
            self._add(stage, f"aux_{spec.col}_loss", a, m)
        self._add(stage, "loss", total, n)
        return total, rows

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        x = self._inputs(batch)
        good = ~batch["bad"]
        target, aux, weight, tab = batch["target"], batch.get("aux"), batch.get("weight"), batch.get("tab")
        if self.p.mix is not None:  # a mixed row's weight (and tabular values) mix like its target
            x, (target, aux, weight, tab), perm = mix_batch(x, [target, aux, weight, tab], self.p.mix, self.mix_gen)
            if perm is not None:
                good = good & good[perm]
        logits, aux_logits = self._forward(x, normalized=True, tab=tab)
        total, _ = self._losses("train", logits, aux_logits, target, aux, good, weight)
        return total

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        x = self._inputs(batch)
        logits, aux_logits = self._forward(x, normalized=True, tab=batch.get("tab"))
        _, rows = self._losses("valid", logits, aux_logits, batch["target"], batch.get("aux"), ~batch["bad"], batch.get("weight"),
                               self._scored(batch))
        pred = logits_to_pred(logits, self.task, self.loss_name)
        self._valid_parts.append((batch["index"].cpu().numpy(), pred.float().cpu().numpy(), rows.float().cpu().numpy()))

    def _scored(self, batch: dict[str, Any]) -> torch.Tensor | None:
        """Mask of the batch's scoring-fold rows; None when every validation row is scored."""
        return None if self.n_scored is None else batch["index"] < self.n_scored

    # -- epoch ends --------------------------------------------------------------------------

    def _flush(self, stage: str, epoch: int) -> None:
        for name, (s, n) in getattr(self, f"_{stage}_sums").items():
            n = float(n)
            if n > 0:
                self._emit(f"{stage}_{name}", float(s) / n, epoch)

    def on_train_epoch_start(self) -> None:
        self._reset("train")

    def on_train_epoch_end(self) -> None:
        epoch = self.current_epoch + 1
        self._flush("train", epoch)
        if self.lr_schedulers() is not None:
            lrs = [g["lr"] for g in self.optimizers().optimizer.param_groups]  # type: ignore[union-attr]
            self._emit("lr_backbone", lrs[0], epoch)
            self._emit("lr", lrs[-1], epoch)
        self._emit("epoch_seconds", time.perf_counter() - self._t0, epoch)
        mem = peak_gpu_memory_gb(self.device)
        if mem is not None:
            self._emit("gpu_mem_gb", mem, epoch)
        self._check_bad("train", epoch)

    def on_validation_epoch_start(self) -> None:
        self._reset("valid")

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking or not self._valid_parts:
            return
        epoch = self.current_epoch + 1
        self._flush("valid", epoch)
        parts = gather_valid(self, self._valid_parts)  # DDP: every rank's rows (medalist.vision.ddp)
        idx = np.concatenate([p[0] for p in parts])
        order = np.argsort(idx, kind="stable")
        pred = np.concatenate([p[1] for p in parts])[order]
        rows = np.concatenate([p[2] for p in parts])[order]
        idx = idx[order]
        n = len(idx) if self.n_scored is None else self.n_scored
        fold = idx < n
        self.last_valid = {"index": idx[fold], "pred": pred[fold], "loss": rows[fold]}
        y = self.valid_y if self.valid_y is not None and len(self.valid_y) == len(idx) else None
        score = self._score("valid", None if y is None else y[:n], pred[fold], epoch)
        inner_score = inner_loss = None
        if self.n_scored is not None:
            inner_score = self._score("inner", None if y is None else y[n:], pred[~fold], epoch)
            inner_loss = float(rows[~fold].mean()) if (~fold).any() else None
            if inner_loss is not None:
                self._emit("inner_target_loss", inner_loss, epoch)
        fold_loss = float(rows[fold].mean()) if fold.any() else None
        # the weights evaluated now (the EMA/SWA average while a callback has it swapped in)
        self.selector.observe(epoch, score, fold_loss, inner_score, inner_loss,
                              lambda: evaluated_state(self.trainer, self))
        self._check_bad("valid", epoch)

    def _score(self, prefix: str, y: np.ndarray | None, pred: np.ndarray, epoch: int) -> float | None:
        """The metric of ``pred`` against ``y``, logged as ``<prefix>_<metric>``; None when it cannot be computed."""
        if self.metric is None or y is None or not len(y):
            return None
        try:
            value = float(self.metric(y, pred.astype(np.float64)))
        except Exception as e:  # e.g. AUC on a one-class sample: the curve goes on without it
            log.info("epoch %d: metric %s not computed on %s rows: %s", epoch, self.metric.name, prefix, e)
            return None
        self._emit(f"{prefix}_{self.metric.name}", value, epoch)
        return value

    def on_fit_end(self) -> None:
        if self.handoff is not None and self.trainer.world_size > 1 and self.trainer.global_rank == 0:
            save_handoff(self, self.handoff)

    # -- optimizer ---------------------------------------------------------------------------

    def _total_steps(self) -> int:
        """Optimizer steps of the whole fit (the schedule's length)."""
        return max(int(self.trainer.estimated_stepping_batches), 1)

    def configure_optimizers(self) -> Any:
        from medalist.vision.finetune import optimizer_groups

        p = self.p
        lr_b, lr_h = p.resolved_lr(), p.resolved_head_lr()
        # Backbone groups first: param_groups[0] is the (top) backbone LR, [-1] the head LR.
        param_groups = optimizer_groups(self.net, lr_b, lr_h, p.weight_decay, getattr(p, "lr_decay", None))
        opt = torch.optim.AdamW(param_groups, lr=lr_h)
        total = self._total_steps()
        self.step_warnings = check_steps(p, total, int(self.trainer.max_epochs or 1))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": warmup_cosine(opt, total, p.warmup), "interval": "step"}}

    def lr_scheduler_step(self, scheduler: Any, metric: Any = None) -> None:
        """Lightning's hook per optimizer step: timm schedulers take the number of steps done."""
        self._sched_steps = getattr(self, "_sched_steps", 0) + 1
        scheduler.step_update(num_updates=self._sched_steps)
