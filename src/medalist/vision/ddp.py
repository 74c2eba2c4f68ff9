"""DDP inside k-fold CV: each fold's fit is its own multi-process DDP job.

Lightning's ``strategy: ddp`` launches ranks by re-running the whole command (``medalist train ...``)
once per device, which inside a CV loop would run every fold's loop again in every rank. Here
``ddp`` becomes a launcher that starts the ranks for one ``trainer.fit`` and ends them with it:
``ddp_fork`` on CPU (gloo; ranks are forked, nothing is pickled) and ``ddp_spawn`` on GPUs (CUDA
cannot be forked once initialised). The fold loop, the predictions and the run folder stay in the one
driver process:

* each epoch's validation is sharded over the ranks; :func:`gather_valid` collects every rank's
  (row index, prediction, loss) so the epoch's score and the epoch selection see every validation
  row exactly once (the sampler's padding duplicates are dropped);
* rank 0 hands the module's Python state (history, epoch selection and its best weights, unreadable
  images) back through a file (:func:`save_handoff` / :func:`load_handoff`); Lightning returns the
  final weights itself;
* OOF and test predictions are made after the fit by the driver, on all rows, as without DDP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["cv_strategy", "launches_ranks", "gather_valid", "save_handoff", "load_handoff"]

_IN_PROCESS_LAUNCH = ("ddp_fork", "ddp_spawn", "ddp_notebook")


def cv_strategy(strategy: str, accelerator: str) -> str:
    """The Lightning strategy a fit inside the CV loop uses for the config's ``strategy``.

    >>> cv_strategy("ddp", "cpu"), cv_strategy("ddp", "gpu"), cv_strategy("auto", "cpu")
    ('ddp_fork', 'ddp_spawn', 'auto')
    """
    if strategy != "ddp":
        return strategy
    import torch

    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    return "ddp_spawn" if on_gpu else "ddp_fork"


def launches_ranks(strategy: str) -> bool:
    """Whether the fit starts and ends its own rank processes (the driver keeps the module's state)."""
    return strategy in _IN_PROCESS_LAUNCH


def gather_valid(module: Any, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> list:
    """Every rank's validation parts (index, prediction, per-row loss), each row once; ``parts`` alone without DDP."""
    trainer = getattr(module, "_trainer", None)
    if trainer is None or trainer.world_size <= 1:
        return parts
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return parts
    every: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(every, parts)
    flat = [p for rank in every for p in rank]
    if not flat:
        return flat
    idx = np.concatenate([p[0] for p in flat])
    _, first = np.unique(idx, return_index=True)  # DistributedSampler pads with repeated rows
    keep = np.zeros(len(idx), dtype=bool)
    keep[first] = True
    out, at = [], 0
    for i, pred, rows in flat:
        k = keep[at:at + len(i)]
        at += len(i)
        out.append((i[k], pred[k], rows[k]))
    return out


_STATE = ("history", "bad", "seen", "last_valid", "step_warnings")
_SELECTOR = ("records", "best_epoch", "best_state", "_best_key", "criterion")


def save_handoff(module: Any, path: Path) -> None:
    """Rank 0: the module's Python state after the fit, for the driver (a private temporary file)."""
    import torch

    state = {k: getattr(module, k) for k in _STATE}
    state["selector"] = {k: getattr(module.selector, k) for k in _SELECTOR}
    torch.save(state, path)


def load_handoff(module: Any, path: Path) -> None:
    """Driver: put rank 0's state into ``module`` and replay its logged values to the fit's log."""
    import torch

    state = torch.load(path, weights_only=False)  # written by this fit's rank 0 a moment ago
    for k in _STATE:
        setattr(module, k, state[k])
    for k, v in state["selector"].items():
        setattr(module.selector, k, v)
    if module.log_fn is not None:
        for rec in module.history:
            for name, value in rec.items():
                if name != "epoch":
                    module.log_fn(name, float(value), rec["epoch"])
