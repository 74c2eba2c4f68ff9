"""Blending finished runs: mean, rank, power, SciPy-optimized weights and Caruana hill-climbing.

Fitted blends (``weighted``, ``hill-climb``) report an honest CV: for each fold the weights are fitted
on the other folds' OOF rows and scored on the held-out fold (nested), next to the in-sample score of
weights fitted on every row. The blend's oof.parquet holds the nested predictions, so a stack or a
second blend on top of it does not see weights tuned on its own rows; test predictions use the weights
fitted on all rows. ``models/blend.json`` keeps those weights at full precision (the ones shown are
rounded) so :func:`medalist.ensemble.reapply.predict_ensemble` can re-apply the blend exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.stats import rankdata

from medalist.core.errors import ConfigError, RunError
from medalist.core.registry import Registry
from medalist.ensemble.members import Members, fit_mask, load_members, write_ensemble_run
from medalist.metrics.registry import Metric
from medalist.runs.store import Run

__all__ = ["BLENDERS", "Blender", "BlendResult", "blend", "blend_members", "fit_weights", "get_blender", "hill_climb",
           "list_blenders", "register_blender", "member_transform", "power_transform",
           "combine"]

Objective = Callable[[np.ndarray], float]


WeightFit = Callable[[list[np.ndarray], np.ndarray, Metric, "Members | None"], np.ndarray]


@dataclass(frozen=True)
class Blender:
    """A blend method: a per-member ``transform`` (ranks, powers) and, for fitted blenders, ``fit``.

    The contract every entry of :data:`BLENDERS` meets: ``fit(preds, y, metric, members)`` gets the
    (transformed) OOF predictions of the members on the validated rows, the targets, the metric and
    the members, and returns one non-negative weight per member (normalized by the caller); ``None``
    means equal weights. The blend is the weighted mean of the transformed predictions.
    ``multiclass``/``regression`` say whether the method keeps class probabilities / the target scale.
    """

    name: str
    fit: WeightFit | None
    transform: Callable[[np.ndarray], np.ndarray] | None = None  # per member, before the weighted mean
    multiclass: bool = True
    regression: bool = True  # False: the transform leaves the target's scale (ranks, powers)

    @property
    def fitted(self) -> bool:
        return self.fit is not None


BLENDERS: Registry[Blender] = Registry("blender")


def register_blender(name: str, *, transform: Callable[[np.ndarray], np.ndarray] | None = None, multiclass: bool = True,
                     regression: bool = True, overwrite: bool = False) -> Callable[[WeightFit], WeightFit]:
    """Register a weight-fitting function ``fit(preds, y, metric, members) -> weights`` as blend method ``name``."""

    def deco(fit: WeightFit) -> WeightFit:
        BLENDERS.register(name, Blender(name, fit=fit, transform=transform, multiclass=multiclass, regression=regression),
                          overwrite=overwrite)
        return fit

    return deco


def get_blender(name: str) -> Blender:
    """The blend method ``name`` (ConfigError with a did-you-mean if unknown)."""
    return BLENDERS.get(name)


def list_blenders() -> list[str]:
    """Names of the blend methods (``blend --method``).

    >>> "hill-climb" in list_blenders()
    True
    """
    return BLENDERS.names()


def _weighted(preds: list[np.ndarray], w: np.ndarray) -> np.ndarray:
    out = np.zeros_like(preds[0], dtype=np.float64)
    for p, wi in zip(preds, w):
        if wi:
            out += wi * p
    total = float(np.sum(w))
    return out / total if total > 0 else out


def _score_fn(preds: list[np.ndarray], y: np.ndarray, metric: Metric, shape: Callable) -> Objective:
    """loss(w) for weights w >= 0 (normalized inside): lower is better whatever the metric's direction."""
    sign = -1.0 if metric.greater_is_better else 1.0

    def loss(w: np.ndarray) -> float:
        w = np.clip(np.asarray(w, dtype=np.float64), 0.0, None)
        if w.sum() <= 0:
            return np.inf
        s = metric(y, shape(_weighted(preds, w / w.sum())))
        return np.inf if np.isnan(s) else sign * s

    return loss


def _squeeze(pred: np.ndarray) -> np.ndarray:
    return pred[:, 0] if pred.ndim == 2 and pred.shape[1] == 1 else pred


def fit_weights(preds: list[np.ndarray], y: np.ndarray, metric: Metric, *, shape: Callable = _squeeze) -> np.ndarray:
    """Non-negative weights summing to one that optimize ``metric`` of the weighted mean of ``preds``.

    SLSQP on the simplex handles smooth metrics (rmse, logloss); Powell on normalized weights handles
    step-shaped ones (auc, accuracy); the better of the two is kept.

    >>> from medalist.metrics.registry import get_metric
    >>> rng = np.random.default_rng(0); y = rng.normal(size=5000)
    >>> preds = [(y + rng.normal(scale=s, size=5000)).reshape(-1, 1) for s in (0.5, 1.0)]
    >>> np.round(fit_weights(preds, y, get_metric("rmse")), 1)
    array([0.8, 0.2])
    """
    m = len(preds)
    if m == 1:
        return np.ones(1)
    loss = _score_fn(preds, y, metric, shape)
    x0 = np.full(m, 1.0 / m)
    cands = [x0]
    try:
        r = minimize(loss, x0, method="SLSQP", bounds=[(0.0, 1.0)] * m,
                     constraints=[{"type": "eq", "fun": lambda w: np.sum(w) - 1.0}], options={"maxiter": 200, "ftol": 1e-10})
        cands.append(r.x)
    except ValueError:  # a non-finite loss at the start: Powell below still searches
        pass
    moved = loss(cands[-1]) < loss(x0) - 1e-12
    if len(cands) == 1 or not moved:
        # SLSQP's finite-difference gradient is zero on a step-shaped metric (auc): search without it
        r = minimize(loss, x0, method="Powell", bounds=[(0.0, 1.0)] * m,
                     options={"xtol": 1e-2, "ftol": 1e-9, "maxfev": 100 * m + 200})
        cands.append(r.x)
    best = min(cands, key=loss)
    w = np.clip(best, 0.0, None)
    return w / w.sum()


def hill_climb(preds: list[np.ndarray], y: np.ndarray, metric: Metric, *, max_iter: int = 100, patience: int = 10,
               shape: Callable = _squeeze) -> np.ndarray:
    """Caruana ensemble selection with replacement; returns selection counts as weights (sum to one).

    Starts from the best single member and repeatedly adds (again, possibly) the member whose addition
    scores best, keeping the best ensemble seen; stops after ``patience`` additions without a gain.
    """
    m = len(preds)
    sign = -1.0 if metric.greater_is_better else 1.0
    loss = lambda p: (lambda s: np.inf if np.isnan(s) else sign * s)(metric(y, shape(p)))  # noqa: E731
    singles = [loss(p) for p in preds]
    first = int(np.argmin(singles))
    counts = np.zeros(m)
    counts[first] = 1
    total = preds[first].astype(np.float64).copy()
    best, best_counts, stale = singles[first], counts.copy(), 0
    for _ in range(max_iter):
        k = counts.sum()
        trial = [loss((total + p) / (k + 1)) for p in preds]
        j = int(np.argmin(trial))
        counts[j] += 1
        total += preds[j]
        if trial[j] < best - 1e-12:
            best, best_counts, stale = trial[j], counts.copy(), 0
        else:
            stale += 1
            if stale >= patience:
                break
    return best_counts / best_counts.sum()


def _equal(preds, y, metric, members=None):  # noqa: ARG001 - same signature as fitted blenders
    return np.full(len(preds), 1.0 / len(preds))


def _rank(p: np.ndarray) -> np.ndarray:
    return np.column_stack([rankdata(p[:, j]) / len(p) for j in range(p.shape[1])])


BLENDERS.register("mean", Blender("mean", fit=None))
BLENDERS.register("rank", Blender("rank", fit=None, transform=_rank, multiclass=False, regression=False))
BLENDERS.register("power", Blender("power", fit=None, regression=False))  # transform set per call: p ** power
register_blender("weighted")(lambda P, y, mt, m=None: fit_weights(P, y, mt))
register_blender("hill-climb")(lambda P, y, mt, m=None: hill_climb(P, y, mt))


@dataclass
class BlendResult:
    method: str
    weights: np.ndarray
    oof: np.ndarray  # nested (honest) for fitted blenders, else the in-sample blend
    test: np.ndarray
    in_sample: float
    nested: float
    fold_weights: dict[int, list[float]] = field(default_factory=dict)


def _prep(m: Members, method: str, power: float) -> tuple[Blender, Callable[[np.ndarray], np.ndarray]]:
    b = BLENDERS.get(method)
    task = m.data.task
    if task in ("multiclass", "distribution") and not b.multiclass:
        raise ConfigError(f"blend --method {method}", expected="a method that keeps class probabilities (mean, weighted, hill-climb, power)",
                          found=f"'{method}' on a {task} task", fix="use --method weighted or hill-climb")
    if task == "regression" and not b.regression:
        raise ConfigError(f"blend --method {method}", expected="a method that keeps the target's scale (mean, weighted, hill-climb)",
                          found=f"'{method}' on a regression task (its blend would be ranks or powers, not target values)",
                          fix="use --method weighted or hill-climb")
    if method == "power":
        if power <= 0:
            raise ConfigError("blend --power", expected="a positive exponent", found=repr(power), fix="use e.g. --power 2")
        if any(np.nanmin(p) < 0 for p in (*m.oof, *m.test)):
            raise ConfigError("blend --method power", expected="non-negative member predictions (probabilities)",
                              found="negative values", fix="use --method mean or weighted for this task")
        return b, power_transform(power, task)
    return b, b.transform or _identity


def _identity(p: np.ndarray) -> np.ndarray:
    return p


def power_transform(power: float, task: str) -> Callable[[np.ndarray], np.ndarray]:
    """The ``power`` blend's per-member transform: ``p ** power``, renormalized to sum to one per row for
    multiclass and distribution tasks."""

    def tf(p: np.ndarray) -> np.ndarray:
        q = p ** power
        return q / q.sum(axis=1, keepdims=True) if task in ("multiclass", "distribution") else q

    return tf


def member_transform(method: str, task: str, power: float | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """The per-member transform of blend ``method`` (ranks, powers, or none), as the blend applied it."""
    if method == "power":
        return power_transform(float(power), task)
    return BLENDERS.get(method).transform or _identity


def combine(preds: list[np.ndarray], weights: np.ndarray, task: str | None = None) -> np.ndarray:
    """The weighted mean of (transformed) member predictions, exactly as a blend computes it
    (renormalised per row for a ``distribution`` task)."""
    out = _weighted(preds, np.asarray(weights, dtype=np.float64))
    return _renorm(out) if task == "distribution" else out


def blend_members(m: Members, method: str = "hill-climb", *, power: float = 2.0) -> BlendResult:
    """Blend aligned members; the library call behind :func:`blend` (no files written).

    Fitted blenders get a nested OOF: fold ``f`` is predicted with weights fitted on the rows
    :func:`medalist.ensemble.members.fit_mask` allows (other folds; on time folds earlier folds only,
    and a fold with nothing earlier is left unpredicted, NaN). A distribution blend is the weighted
    mean of the members' class distributions, renormalised per row, with weights fitted on the
    competition's metric (``kl``).
    """
    b, tf = _prep(m, method, power)
    _check_rows(m)
    rows = m.valid
    y = m.y
    norm = _renorm if m.data.task == "distribution" else _identity
    P = [tf(p[rows]) for p in m.oof]
    T = [tf(p) for p in m.test]
    fit = b.fit or _equal
    w = fit(P, y[rows], m.metric, m)
    pred_rows = norm(_weighted(P, w))
    in_sample = m.metric(y[rows], m.out(pred_rows))
    oof = np.full_like(m.oof[0], np.nan, dtype=np.float64)
    fold_weights: dict[int, list[float]] = {}
    if b.fitted:
        fr = m.fold[rows]
        nested_rows = np.full_like(pred_rows, np.nan)
        for f in np.unique(fr):
            inner = fit_mask(m, int(f), rows)[rows]
            if not inner.any():  # time folds: nothing earlier to fit on
                continue
            wf = fit([p[inner] for p in P], y[rows][inner], m.metric, m)
            fold_weights[int(f)] = [round(float(x), 6) for x in wf]
            at = fr == f
            nested_rows[at] = norm(_weighted([p[at] for p in P], wf))
        oof[rows] = nested_rows
        done = ~np.isnan(nested_rows).any(axis=1)
        nested = m.metric(y[rows][done], m.out(nested_rows[done]))
    else:
        oof[rows] = pred_rows
        nested = in_sample
    return BlendResult(method=method, weights=w, oof=oof, test=combine(T, w, m.data.task), in_sample=in_sample,
                       nested=nested, fold_weights=fold_weights)


def _renorm(p: np.ndarray) -> np.ndarray:
    """Rows of class probabilities scaled to sum to one (a blend of distributions stays a distribution)."""
    total = p.sum(axis=1, keepdims=True)
    return np.divide(p, total, out=np.full_like(p, 1.0 / p.shape[1]), where=total > 0)


def blend(ws, run_ids: list[str], method: str = "hill-climb", *, power: float = 2.0, name: str | None = None,
          note: str = "", tracking: bool = True) -> Run:
    """Blend finished runs on the same folds and write the blend as a run; returns it.

    >>> run = blend(Workspace.find(), ["lgbm-001", "logreg-001"], "hill-climb")
    >>> run.id, round(run.metrics["oof"], 4), round(run.metrics["in_sample"], 4)
    ('blend-hill-climb-001', 0.9925, 0.9928)
    """
    t0 = time.perf_counter()
    BLENDERS.get(method)  # unknown method: error before reading anything
    m = load_members(ws, list(run_ids), min_runs=2)
    res = blend_members(m, method, power=power)
    weights = {rid: round(float(w), 6) for rid, w in zip(m.ids, res.weights)}
    spec: dict[str, Any] = {"method": method, "runs": m.ids, "weights": weights}
    if method == "power":
        spec["power"] = power
    extra = {"in_sample": res.in_sample, "nested": res.nested, "weights": weights,
             "fold_weights": {str(k): v for k, v in res.fold_weights.items()}}
    # the exact weights (the displayed ones are rounded): what re-applying the blend to new test rows needs
    state = {"format": 1, "kind": "blend", "method": method, "runs": m.ids, "task": m.data.task, "id": m.data.id,
             "pred_columns": m.pred_columns, "weights_exact": [float(w) for w in res.weights],
             "power": power if method == "power" else None}
    return write_ensemble_run(ws, m, stem=name or f"blend-{method}", kind="blend", oof=res.oof, test=res.test,
                              spec=spec, extra_metrics=extra, note=note or f"{method} blend of {', '.join(m.ids)}",
                              seconds=time.perf_counter() - t0, tracking=tracking, files={"models/blend.json": state})


def _check_rows(m: Members) -> None:
    if not m.valid.any():
        raise RunError("runs", expected="rows validated by every member", found="none", fix="blend runs of the same folds")
