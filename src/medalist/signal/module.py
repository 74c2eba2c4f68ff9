"""The Lightning module of ``model: signal``: the image trainer's module (AdamW, cosine schedule with
warmup, per-epoch logging, EMA/SWA callbacks, AMP flags) with per-branch losses, mixup on waveforms,
and a curriculum: the training rows change between epochs inside one run (HMS: all rows, then only
rows with ≥ 8 votes).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from medalist.signal.config import SignalParams
from medalist.signal.data import SignalDataset
from medalist.vision.module import ImageModule
from medalist.vision.schedule import warmup_cosine
from medalist.vision.net import per_sample_loss, weighted_mean

__all__ = ["SignalModule", "mix_signals"]


def mix_signals(tensors: list[torch.Tensor | None], cfg: Any, generator: torch.Generator
                ) -> tuple[list[torch.Tensor | None], torch.Tensor | None, float]:
    """Mixup (weighted sum) or cutmix (a time span spliced from a partner) of waveform batches.

    Every tensor of ``tensors`` (waveforms (B, C, T), provided spectrograms (B, C, F, T'), soft
    targets (B, K)) is mixed with the same partner and weight: spans for time axes, the pasted
    share for targets. Returns (tensors, perm or None, weight of the original rows).
    """
    x = tensors[0]
    use_mixup, use_cutmix = cfg.mixup_alpha > 0, cfg.cutmix_alpha > 0
    if x is None or not (use_mixup or use_cutmix) or x.shape[0] < 2:
        return tensors, None, 1.0
    if torch.rand((), generator=generator).item() >= cfg.prob:
        return tensors, None, 1.0
    cutmix = use_cutmix and (not use_mixup or torch.rand((), generator=generator).item() < 0.5)
    alpha = cfg.cutmix_alpha if cutmix else cfg.mixup_alpha
    lam = float(torch.distributions.Beta(alpha, alpha).sample().item()) if generator is None else \
        float(np.random.default_rng(int(torch.randint(0, 2**31 - 1, (), generator=generator))).beta(alpha, alpha))
    perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
    out: list[torch.Tensor | None] = []
    if cutmix:
        a = float(torch.rand((), generator=generator).item()) * lam  # span [a, a + 1 − lam) of the time axis
        for t in tensors:
            if t is None or t.ndim == 2:
                out.append(t)
                continue
            n = t.shape[-1]
            lo, hi = int(a * n), int((a + 1 - lam) * n)
            t = t.clone()
            t[..., lo:hi] = t[perm][..., lo:hi]
            out.append(t)
        lam = 1.0 - (int((a + 1 - lam) * x.shape[-1]) - int(a * x.shape[-1])) / x.shape[-1]
        out = [t if t is None or t.ndim != 2 else lam * t + (1 - lam) * t[perm] for t in out]
    else:
        out = [None if t is None else lam * t + (1 - lam) * t[perm] for t in tensors]
    return out, perm, lam


class SignalModule(ImageModule):
    """Multi-branch training: ``loss = final + branch_loss × Σ wᵢ·lossᵢ / Σ wᵢ`` over the branch heads."""

    def __init__(self, net: Any, p: SignalParams, task: str, loss: str, *, stages: list[tuple[int, np.ndarray, str]],
                 train_ds: SignalDataset, valid_ds: SignalDataset | None, loader: Any, **kw: Any) -> None:
        super().__init__(net, p, task, loss, [], **kw)
        self.sp = p
        self.stages, self.train_ds, self.valid_ds, self.loader = stages, train_ds, valid_ds, loader
        self.branch_names = [b.name for b in p.branches]
        w = np.array([b.weight for b in p.branches], dtype=np.float64)
        self.branch_w = (w / w.sum()).tolist() if w.sum() > 0 else [0.0] * len(w)
        self.provided = [b.name for b in p.branches if b.input == "provided"]

    # -- curriculum --------------------------------------------------------------------------

    def stage_at(self, epoch: int) -> tuple[int, np.ndarray, str]:
        """(stage number, training rows, filter text) of a 0-based epoch."""
        end = 0
        for i, (epochs, rows, text) in enumerate(self.stages):
            end += epochs
            if epoch < end:
                return i, rows, text
        return len(self.stages) - 1, self.stages[-1][1], self.stages[-1][2]

    def train_dataloader(self) -> Any:
        _, rows, _ = self.stage_at(self.current_epoch)
        ds = SignalDataset(self.train_ds.x, self.train_ds.y, self.train_ds.extra, rows, self.train_ds.weights)
        return self.loader(ds, train=True, seed=int(self.mix_gen.initial_seed()) + self.current_epoch)

    def val_dataloader(self) -> Any:
        return self.loader(self.valid_ds, train=False) if self.valid_ds is not None else []

    # -- steps -------------------------------------------------------------------------------

    def _inputs(self, batch: dict[str, Any]) -> torch.Tensor:
        return batch["image"].float()

    def _signal_losses(self, stage: str, logits: torch.Tensor, branch_logits: list[torch.Tensor],
                       target: torch.Tensor, weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Final and branch losses, each the per-sample ``weight``-ed mean of its rows (plain mean without)."""
        n = target.shape[0]
        rows = per_sample_loss(logits, target, self.task, self.loss_name, self.p.focal_gamma)
        every = torch.ones_like(rows, dtype=torch.bool)
        final, _ = weighted_mean(rows, every, weight)
        self._add(stage, "target_loss", final, n)
        branch = final.new_zeros(())
        for name, w, lg in zip(self.branch_names, self.branch_w, branch_logits):
            bl, _ = weighted_mean(per_sample_loss(lg, target, self.task, self.loss_name, self.p.focal_gamma), every, weight)
            self._add(stage, f"branch_{name}_loss", bl, n)
            branch = branch + w * bl
        total = final + self.sp.branch_loss * branch
        self._add(stage, "branch_mean_loss", branch, n)
        self._add(stage, "loss", total, n)
        return total, rows

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        x = self._inputs(batch)
        target, weight = batch["target"], batch.get("weight")
        provided = [batch[k] for k in self.provided]
        if self.p.mix is not None:
            mixed, perm, lam = mix_signals([x, target, *provided], self.p.mix, self.mix_gen)
            x, target, provided = mixed[0], mixed[1], mixed[2:]  # type: ignore[assignment]
            if perm is not None and weight is not None:  # a mixed row's weight mixes like its target
                weight = lam * weight + (1 - lam) * weight[perm]
        logits, branch_logits = self._forward(x, provided=dict(zip(self.provided, provided)))
        total, _ = self._signal_losses("train", logits, branch_logits, target, weight)  # type: ignore[arg-type]
        return total

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        from medalist.vision.net import logits_to_pred

        x = self._inputs(batch)
        logits, branch_logits = self._forward(x, provided={k: batch[k] for k in self.provided})
        _, rows = self._signal_losses("valid", logits, branch_logits, batch["target"], batch.get("weight"))
        pred = logits_to_pred(logits, self.task, self.loss_name)
        self._valid_parts.append((batch["index"].cpu().numpy(), pred.float().cpu().numpy(), rows.float().cpu().numpy()))

    def on_train_epoch_end(self) -> None:
        stage, rows, _ = self.stage_at(self.current_epoch)
        super().on_train_epoch_end()
        epoch = self.current_epoch + 1
        self._emit("curriculum_stage", stage, epoch)
        self._emit("train_rows", len(rows), epoch)

    # -- optimizer ---------------------------------------------------------------------------

    def configure_optimizers(self) -> Any:
        conf = super().configure_optimizers()
        # The curriculum changes the rows per epoch: the cosine schedule spans the real step count.
        bs, acc = self.p.batch_size, self.p.accumulate
        total = 0
        for epochs, rows, _ in self.stages:
            batches = len(rows) // bs if len(rows) > bs else max(math.ceil(len(rows) / bs), 1)
            total += epochs * max(math.ceil(batches / acc), 1)
        opt = conf["optimizer"]
        conf["lr_scheduler"]["scheduler"] = warmup_cosine(opt, max(total, 1), self.p.warmup)
        return conf
