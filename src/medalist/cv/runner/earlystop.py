"""Where a boosting model early-stops: on a slice of its own training rows, never on the fold it is scored on.

``model.early_stopping.split``:

* ``inner``: each outer split's training rows lose a slice (``inner_fraction``) that only early
  stopping sees: whole groups when the folds are grouped, the latest rows when they are time folds,
  a class-stratified random slice otherwise. ``inner_model: refit`` (default) retrains on all the
  split's training rows for ``best × n_train / n_inner_train`` rounds; ``keep`` predicts with the inner model.
* ``none``: a first pass finds each split's best round that way (scaled the same way); every split then
  trains on all its training rows for the mean of them, without early stopping.
* ``scoring-fold``: stop on the validation fold itself (its OOF score is optimistic).

Models without boosting rounds (``stops_early`` False) ignore all of it and fit as before.
What each fit used goes into the fold's info under ``early_stopping``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from medalist.core.config import ExperimentConfig
from medalist.metrics.registry import Metric
from medalist.models import FitContext
from medalist.models.stopping import stop_metric_mode
from medalist.workspace.data import CompetitionData
from medalist.workspace.folds import Folds

__all__ = ["StopPlan", "stop_plan", "inner_split", "fit_fold", "first_pass", "stop_summary", "group_keys"]


@dataclass
class StopPlan:
    """The resolved early-stopping settings of a run, plus each train row's group and time order."""

    split: str  # inner | none | scoring-fold | off (the model does not stop early, or rounds is None)
    metric: str  # competition | native
    fraction: float = 0.15
    inner_model: str = "refit"
    groups: np.ndarray | None = None  # per data.train row
    order: np.ndarray | None = None  # per data.train row: time order (time folds)
    labels: np.ndarray | None = None  # per data.train row: class, to stratify the slice
    fixed: int | None = None  # split none: the rounds every fold trains
    found: list[int] = field(default_factory=list)  # split none: the first pass's rounds, one per split x seed


def group_keys(data: CompetitionData, folds: Folds, read: Callable[[list[str]], pl.DataFrame] | None = None) -> np.ndarray | None:
    """The folds' group value of each ``data.train`` row (None for ungrouped folds).

    ``read(columns)`` reads the raw train table when the experiment dropped the group column.
    """
    group = folds.meta.get("group")
    if not group:
        return None
    if group in data.train.columns:
        return data.train.get_column(group).to_numpy()
    if read is None:
        return None
    keys = read([data.id, group])
    return data.train.select(data.id).join(keys, on=data.id, how="left", maintain_order="left").get_column(group).to_numpy()


def _time_order(folds: Folds, train: pl.DataFrame) -> np.ndarray | None:
    if folds.meta.get("scheme") != "time":
        return None
    pos = folds._positions(train).filter(pl.col("repeat") == pl.col("repeat").min())
    order = np.zeros(train.height, dtype=np.int64)
    order[pos.get_column("pos").to_numpy()] = pos.get_column("order").to_numpy()
    return order


def stop_plan(exp: ExperimentConfig, metric: Metric, data: CompetitionData, folds: Folds, *, stops_early: bool,
              groups: np.ndarray | None = None) -> StopPlan:
    """Resolve ``exp.model.early_stopping`` for this data (ConfigError for a metric no hook can evaluate)."""
    es = exp.model.early_stopping
    y = data.train.get_column(data.target[0]).to_numpy()
    if not stops_early or es.rounds is None:
        return StopPlan("off", "native")
    mode = stop_metric_mode(es.metric, metric, data.task, y, data.n_classes, model=exp.model.name)
    if es.split == "scoring-fold":
        return StopPlan("scoring-fold", mode)
    if groups is None:
        groups = group_keys(data, folds)
    labels = y if data.task in ("binary", "multiclass") else None
    return StopPlan(es.split, mode, es.inner_fraction, es.inner_model, groups, _time_order(folds, data.train), labels)


def _stratified(idx: np.ndarray, labels: np.ndarray | None, n_stop: int, rng: np.random.Generator) -> np.ndarray:
    if labels is None:
        return rng.choice(idx, size=n_stop, replace=False)
    out = []
    for c in np.unique(labels[idx]):
        members = idx[labels[idx] == c]
        k = int(round(len(members) * n_stop / len(idx)))
        out.append(rng.choice(members, size=min(k, len(members)), replace=False))
    return np.concatenate(out)


def inner_split(train_idx: np.ndarray, plan: StopPlan, seed: Any) -> tuple[np.ndarray, np.ndarray]:
    """Split an outer split's training positions into (inner-train, stopping) positions, both sorted.

    Time folds: the latest ``fraction`` of rows stop. Grouped folds: whole groups (shuffled) until
    ``fraction`` of the rows. Otherwise a random, class-stratified ``fraction``.

    >>> plan = StopPlan("inner", "native", fraction=0.25, order=np.arange(8)[::-1])
    >>> inner_split(np.arange(8), plan, seed=0)
    (array([2, 3, 4, 5, 6, 7]), array([0, 1]))
    """
    idx = np.sort(np.asarray(train_idx))
    n_stop = max(1, int(round(len(idx) * plan.fraction)))
    rng = np.random.default_rng([int(s) % 2**32 for s in np.atleast_1d(seed)])
    if plan.order is not None:
        stop = idx[np.argsort(plan.order[idx], kind="stable")[-n_stop:]]
    elif plan.groups is not None:
        g = plan.groups[idx]
        uniq, counts = np.unique(g, return_counts=True)
        perm = rng.permutation(len(uniq))
        take = perm[: int(np.searchsorted(np.cumsum(counts[perm]), n_stop) + 1)]
        if len(take) == len(uniq):  # one group: nothing left to train on
            take = take[:-1]
        stop = idx[np.isin(g, uniq[take])]
    else:
        stop = _stratified(idx, plan.labels, n_stop, rng)
    stop = np.sort(stop)
    return np.setdiff1d(idx, stop, assume_unique=True), stop


def _local(train_idx: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Positions into ``data.train`` -> row numbers in the frame ``data.train[train_idx]``."""
    return np.searchsorted(train_idx, positions)


def fit_fold(make: Callable[[], Any], tr: pl.DataFrame, va: pl.DataFrame, ctx: FitContext, plan: StopPlan,
             train_idx: np.ndarray, seed: Any) -> tuple[Any, dict[str, Any]]:
    """Fit one model for one outer split under ``plan``; returns it and what its stopping used.

    ``tr`` is ``data.train[train_idx]`` (``train_idx`` sorted); ``va`` the scored fold, which only
    ``scoring-fold`` (and ``off``, for curves) passes to the model.
    """
    ctx = dataclasses.replace(ctx, stop_metric=plan.metric)
    info: dict[str, Any] = {"split": plan.split, "metric": plan.metric}
    if plan.split in ("off", "scoring-fold"):
        model = make().fit(tr, va, ctx)
        return model, {**info, "rounds": getattr(model, "best_iteration", None)}
    if plan.split == "none":
        model = make().fit(tr, None, dataclasses.replace(ctx, num_iterations=plan.fixed))
        return model, {**info, "rounds": plan.fixed, "first_pass_rounds": plan.found}
    fit_pos, stop_pos = inner_split(train_idx, plan, seed)
    fit_l, stop_l = _local(train_idx, fit_pos), _local(train_idx, stop_pos)
    model = make().fit(tr[fit_l], tr[stop_l], ctx)
    found = int(model.best_iteration)
    info.update(found=found, n_inner_train=len(fit_l), n_stop=len(stop_l), inner_model=plan.inner_model,
                stop_score=(getattr(model, "stop_scores_", None) or [None])[0])
    if plan.inner_model == "refit":
        rounds = max(1, int(round(found * tr.height / len(fit_l))))
        model = make().fit(tr, None, dataclasses.replace(ctx, num_iterations=rounds, log=None))
        return model, {**info, "rounds": rounds}
    return model, {**info, "rounds": found}


def first_pass(make: Callable[[], Any], folds_frames: Iterable[tuple[pl.DataFrame, np.ndarray, FitContext, Any]],
               plan: StopPlan) -> int:
    """``split: none``: each split's inner-stopped best round × n_train / n_inner_train; sets and returns the mean."""
    found = []
    for tr, train_idx, ctx, seed in folds_frames:
        fit_pos, stop_pos = inner_split(train_idx, plan, seed)
        fit_l, stop_l = _local(train_idx, fit_pos), _local(train_idx, stop_pos)
        m = make().fit(tr[fit_l], tr[stop_l], dataclasses.replace(ctx, stop_metric=plan.metric, log=None))
        found.append(max(1, int(round(m.best_iteration * tr.height / len(fit_l)))))
    plan.found = found
    plan.fixed = int(round(float(np.mean(found))))
    return plan.fixed


def stop_summary(fits: list[dict[str, Any]]) -> dict[str, Any]:
    """One fold's ``early_stopping`` info from its per-seed fits: split, metric, rounds per seed, and the rest."""
    if not fits:
        return {}
    out = {k: v for k, v in fits[0].items() if k not in ("rounds", "found", "stop_score")}
    out["rounds"] = [f.get("rounds") for f in fits]
    if "found" in fits[0]:
        out["found"] = [f["found"] for f in fits]
        out["stop_score"] = [f.get("stop_score") for f in fits]
    return out
