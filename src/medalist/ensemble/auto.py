"""``medalist auto``: a default portfolio on the workspace's folds within a time budget.

LightGBM, XGBoost and CatBoost with settings Kagglers start from (learning rate 0.05, row and column
subsampling, early stopping on each fold), then a Caruana hill-climb blend of whatever finished. Each
member is an ordinary run from a config written to ``configs/auto-<model>.yaml`` (edit it and rerun);
the blend is an ordinary blend run. The budget is enforced between folds: the first member always
finishes; a later member that would not fit is skipped, one whose remaining folds would overrun it is
stopped after its current fold and left out.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from medalist.core.errors import ConfigError, MedalistError
from medalist.core.io import atomic_write_text
from medalist.metrics.registry import get_metric
from medalist.runs.store import Run

__all__ = ["PORTFOLIO", "AutoResult", "auto", "portfolio_config"]

PORTFOLIO: dict[str, dict[str, Any]] = {
    "lightgbm": {
        "note": "medalist auto: LightGBM Kaggle defaults",
        "model": {"name": "lightgbm", "params": {
            "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20, "feature_fraction": 0.8,
            "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0, "verbosity": -1},
            "early_stopping_rounds": 100, "num_boost_round": 5000},
    },
    "xgboost": {
        "note": "medalist auto: XGBoost Kaggle defaults",
        "model": {"name": "xgboost", "params": {
            "eta": 0.05, "max_depth": 6, "subsample": 0.8, "colsample_bytree": 0.8, "min_child_weight": 1.0,
            "lambda": 1.0, "max_bin": 256},
            "early_stopping_rounds": 100, "num_boost_round": 5000},
    },
    "catboost": {
        "note": "medalist auto: CatBoost Kaggle defaults",
        "model": {"name": "catboost", "params": {"learning_rate": 0.08, "depth": 6, "l2_leaf_reg": 3.0},
                  "early_stopping_rounds": 100, "num_boost_round": 3000},
    },
}
# Rough cost of each member relative to LightGBM on the same data (measured on the benchmark tables);
# used to skip a member that cannot finish inside what is left of the budget.
_COST = {"lightgbm": 1.0, "xgboost": 1.5, "catboost": 3.0}
_PACKAGE = {"lightgbm": "lightgbm", "xgboost": "xgboost", "catboost": "catboost"}


class _OverBudget(Exception):
    pass


def portfolio_config(ws, model: str, threads: int | None = None) -> Path:
    """Write (once) ``configs/auto-<model>.yaml`` and return its path; an existing file is kept (user edits win)."""
    if model not in PORTFOLIO:
        raise ConfigError(f"auto --model {model}", expected=f"one of {', '.join(PORTFOLIO)}", found=repr(model))
    path = ws.configs_dir / f"auto-{model}.yaml"
    if not path.is_file():
        cfg = {"name": f"auto-{model}", **PORTFOLIO[model]}
        if threads:
            cfg["threads"] = threads
        atomic_write_text(path, yaml.safe_dump(cfg, sort_keys=False))
    return path


@dataclass
class AutoResult:
    metric: str
    direction: str
    runs: list[Run] = field(default_factory=list)
    blend: Run | None = None
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def best(self) -> Run | None:
        cands = [*self.runs, *([self.blend] if self.blend else [])]
        if not cands:
            return None
        m = get_metric(self.metric) if self.metric else None
        best = cands[0]
        for r in cands[1:]:
            if m is not None and m.better(float(r.cv), float(best.cv)):
                best = r
        return best

    def summary(self) -> dict[str, Any]:
        rows = [{"run": r.id, "model": (rec := r.record).model, "cv": r.cv, "seconds": rec.seconds}
                for r in [*self.runs, *([self.blend] if self.blend else [])]]
        best = self.best
        return {"metric": self.metric, "direction": self.direction, "runs": rows, "skipped": self.skipped,
                "blend": self.blend.id if self.blend else None, "best": best.id if best else None,
                "best_cv": best.cv if best else None, "seconds": round(self.seconds, 2),
                "weights": self.blend.metrics.get("weights") if self.blend else None}


def auto(ws, *, budget: float = 600.0, models: list[str] | None = None, threads: int | None = None,
         blend_method: str = "hill-climb", tracking: bool = True, step: Callable[[str], None] | None = None) -> AutoResult:
    """Train the portfolio on the workspace's folds within ``budget`` seconds and blend it.

    >>> res = auto(Workspace.find(), budget=120, models=["lightgbm", "xgboost"], threads=1)
    >>> [r.id for r in res.runs], res.blend.id, res.summary()["best"]
    (['auto-lightgbm-001', 'auto-xgboost-001'], 'auto-blend-001', 'auto-lightgbm-001')
    """
    from medalist.cv.runner import train
    from medalist.ensemble import blend

    say = step or (lambda _msg: None)
    models = list(models or PORTFOLIO)
    for name in models:
        if name not in PORTFOLIO:
            raise ConfigError(f"auto --model {name}", expected=f"one of {', '.join(PORTFOLIO)}", found=repr(name))
    if budget <= 0:
        raise ConfigError("auto --budget", expected="a positive number of seconds", found=repr(budget))
    metric = get_metric(ws.competition.metric)
    res = AutoResult(metric=metric.name, direction=metric.direction)
    t0 = time.perf_counter()
    deadline = t0 + budget
    unit = None  # seconds of a LightGBM-cost member on this data
    for name in models:
        left = deadline - time.perf_counter()
        if importlib.util.find_spec(_PACKAGE[name]) is None:
            res.skipped.append(f"{name}: not installed (pip install 'medalist[gbdt]')")
            continue
        if res.runs and (left <= 0 or (unit is not None and unit * _COST[name] > left)):
            res.skipped.append(f"{name}: needs ~{unit * _COST[name]:.0f}s, {left:.0f}s of the budget left")
            continue
        cfg = portfolio_config(ws, name, threads)
        say(f"{name} ({left:.0f}s of the budget left)")
        started = time.perf_counter()
        folds = {"total": 0, "done": 0}

        def guard(kind: str, payload: dict[str, Any], folds: dict = folds, started: float = started) -> None:
            if kind == "start":
                folds["total"] = int(payload["splits"])
            if kind != "fold_done" or not res.runs:
                return  # the first member always finishes: a portfolio with no model helps nobody
            folds["done"] += 1
            now = time.perf_counter()
            per_fold = (now - started) / folds["done"]
            if now + per_fold * (folds["total"] - folds["done"]) > deadline:
                # it cannot finish inside the budget: stop now rather than after overrunning it
                raise _OverBudget(f"{folds['done']}/{folds['total']} folds in {now - started:.0f}s, "
                                  f"the rest would overrun the {budget:.0f}s budget")

        try:
            run = train(ws, cfg, [f"threads={threads}"] if threads else [], tracking=tracking, on_event=guard)
        except _OverBudget as e:
            res.skipped.append(f"{name}: stopped, {e}")
            break
        took = time.perf_counter() - started
        unit = took / _COST[name] if unit is None else max(unit, took / _COST[name])
        res.runs.append(run)
        say(f"{run.id}: CV {metric.name} = {run.cv:.6f} ({took:.0f}s)")
    if len(res.runs) >= 2:
        try:
            res.blend = blend(ws, [r.id for r in res.runs], blend_method, name="auto-blend", tracking=tracking,
                              note=f"medalist auto: {blend_method} blend")
            say(f"{res.blend.id}: nested CV {metric.name} = {res.blend.cv:.6f}")
        except MedalistError as e:
            res.skipped.append(f"blend: {e}")
    res.seconds = time.perf_counter() - t0
    return res
