"""Aligned members made in memory (no workspace): HMS-like vote distributions, and time-ordered folds."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import polars as pl

from medalist.ensemble.members import Members
from medalist.metrics.registry import get_metric

CLASSES = ["seizure", "lpd", "gpd", "lrda", "grda", "other"]


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _members(task, target, train, test, preds, tests, fold, metric, *, scheme="", masks=None) -> Members:
    data = SimpleNamespace(task=task, target=target, train=train, test=test, id="id", features=[], categories={})
    runs = [SimpleNamespace(id=f"m{i}-001") for i in range(len(preds))]
    return Members(runs=runs, data=data, metric=get_metric(metric), oof=preds, test=tests, fold=fold,
                   folds_hash="synthetic", pred_columns=[f"pred_{c}" for c in target] if task == "distribution" else ["pred"],
                   scheme=scheme, train_masks=masks)


def distribution_members(n: int = 2400, n_test: int = 300, k: int = 5, seed: int = 0) -> Members:
    """HMS-shaped: 6 classes, 1-20 annotator votes per row (many rows with few votes, some split between
    neighbouring patterns), three members that see the latent class signal with different noise and
    different miscalibration (over-confident, under-confident with a class bias, calibrated but noisier)."""
    rng = np.random.default_rng(seed)
    K = len(CLASSES)
    N = n + n_test
    cls = rng.choice(K, size=N, p=[0.2, 0.15, 0.15, 0.1, 0.1, 0.3])
    z = 2.5 * np.eye(K)[cls] + rng.normal(scale=1.0, size=(N, K))
    z[:, 1] += 0.8 * (cls == 2)  # lpd/gpd and lrda/grda experts disagree: mass leaks to the neighbour
    z[:, 4] += 0.8 * (cls == 3)
    p_true = _softmax(z)
    votes = np.vstack([rng.multinomial(int(v), p) for v, p in zip(rng.integers(1, 21, size=N), p_true)])
    bias = np.array([0.3, -0.2, 0.0, 0.2, -0.3, 0.0])
    specs = [(1.7, 0.7, 0.0), (0.6, 0.7, 1.0), (1.0, 1.1, 0.0)]  # (temperature, noise, class bias)
    out = []
    for temp, noise, b in specs:
        out.append(_softmax(temp * (z + rng.normal(scale=noise, size=(N, K))) + b * bias))
    frame = pl.DataFrame({"id": np.arange(N), **{c: votes[:, j] for j, c in enumerate(CLASSES)}})
    fold = rng.permutation(np.arange(n) % k).astype(np.int64)
    return _members("distribution", list(CLASSES), frame.head(n), frame.tail(n_test), [p[:n] for p in out],
                    [p[n:] for p in out], fold, "kl")


def time_members(n: int = 1800, k: int = 5, seed: int = 0) -> Members:
    """Regression rows in time order with a drift: members' errors change over time, so weights fitted on
    later folds differ from earlier ones. Folds as a time split makes them: block -1 first (never
    validated), then folds 0..k-1; fold f's models trained on every earlier row."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = np.sin(t / 150.0) + rng.normal(scale=0.3, size=n)
    drift = t / n
    preds = [(y + rng.normal(scale=0.25 + 0.3 * drift, size=n)).reshape(-1, 1),
             (y + rng.normal(scale=0.55 - 0.3 * drift, size=n)).reshape(-1, 1),
             (y + 0.1 + rng.normal(scale=0.4, size=n)).reshape(-1, 1)]
    block = n // (k + 1)
    fold = np.minimum(t // block, k) - 1
    masks = {f: t < (f + 1) * block for f in range(k)}
    frame = pl.DataFrame({"id": t, "y": y})
    test = pl.DataFrame({"id": np.arange(n, n + 50), "y": np.zeros(50)})
    return _members("regression", ["y"], frame, test, [np.where(fold.reshape(-1, 1) >= 0, p, np.nan) for p in preds],
                    [p[:50] for p in preds], fold.astype(np.int64), "rmse", scheme="time", masks=masks)
