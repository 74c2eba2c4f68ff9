"""``medalist auto``: a Kaggler's first day on a tabular competition, inside a time budget.

A time-aware plan on the workspace's folds, every step an ordinary run (``runs``, ``show``,
``compare``, ``submit``, ``package`` all work on it):

1. **baselines** — LightGBM, XGBoost, CatBoost with the settings Kagglers start from, and a linear
   model (logistic regression / ridge), from ``configs/auto-<family>.yaml`` (written once; edit it and
   rerun). Id-like columns (unique or near-unique per row, or the group column under another name) are
   left out with a note.
2. **features** — candidates for raw tables (count encoding of high-cardinality categoricals, date
   parts, group means/deviations by low-cardinality categoricals), each tried with LightGBM and kept
   only if its CV beats the baseline's beyond two standard errors of the paired fold gains; the kept
   ones are used by every later stage.
3. **tune** — Optuna over community search spaces for the leading families, warm-started from the
   defaults (the first trial), each trial pruned after any fold whose running mean is below the median.
4. **bag** — the best config of the leading families again with three seeds averaged per fold.
5. **ensemble** — a Caruana hill-climb blend (weights nested: fitted on the other folds) and a level-2
   stack of the best run of each family; the final pick is the best CV.

Time: each stage's cost is estimated from the runs measured before it (:class:`CostModel`) and the
plan re-balanced after every run; a run whose remaining folds would end past the budget is stopped
between folds with status ``stopped`` (``auto --resume`` finishes it). Runs already in the workspace
with the same resolved config are reused, not retrained, so calling ``auto`` again continues the plan.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from medalist.core.deadline import deadline
from medalist.core.errors import ConfigError, DataError
from medalist.core.io import atomic_write_text
from medalist.ensemble.autoplan import CostModel, default_threads, inspect_table
from medalist.metrics.registry import get_metric
from medalist.runs.store import Run
from medalist.runs.writer import StopRun, now_iso

__all__ = ["PORTFOLIO", "SPACES", "AutoResult", "auto", "portfolio_config"]

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
    "linear": {
        "note": "medalist auto: linear model (scaled, one-hot)",
        "model": {"name": "sklearn:sklearn.linear_model.LogisticRegression", "params": {"C": 1.0, "max_iter": 1000}},
    },
}
_LINEAR_REGRESSION = {"name": "sklearn:sklearn.linear_model.Ridge", "params": {"alpha": 1.0}}

# Search spaces Kagglers use for each family (dotted override keys, as in ``medalist tune``).
SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "lightgbm": {
        "model.params.learning_rate": {"type": "float", "low": 0.01, "high": 0.2, "log": True},
        "model.params.num_leaves": {"type": "int", "low": 8, "high": 256, "log": True},
        "model.params.min_child_samples": {"type": "int", "low": 5, "high": 100, "log": True},
        "model.params.feature_fraction": {"type": "float", "low": 0.4, "high": 1.0},
        "model.params.bagging_fraction": {"type": "float", "low": 0.5, "high": 1.0},
        "model.params.lambda_l2": {"type": "float", "low": 1e-3, "high": 10.0, "log": True},
    },
    "xgboost": {
        "model.params.eta": {"type": "float", "low": 0.01, "high": 0.2, "log": True},
        "model.params.max_depth": {"type": "int", "low": 3, "high": 10},
        "model.params.min_child_weight": {"type": "float", "low": 0.5, "high": 20.0, "log": True},
        "model.params.subsample": {"type": "float", "low": 0.5, "high": 1.0},
        "model.params.colsample_bytree": {"type": "float", "low": 0.4, "high": 1.0},
        "model.params.lambda": {"type": "float", "low": 1e-3, "high": 10.0, "log": True},
    },
    "catboost": {
        "model.params.learning_rate": {"type": "float", "low": 0.02, "high": 0.2, "log": True},
        "model.params.depth": {"type": "int", "low": 4, "high": 8},
        "model.params.l2_leaf_reg": {"type": "float", "low": 1.0, "high": 10.0, "log": True},
    },
}
_PACKAGE = {"lightgbm": "lightgbm", "xgboost": "xgboost", "catboost": "catboost", "linear": "sklearn"}
BAG_SEEDS = [42, 43, 44]
OVERRUN = 0.05  # the plan may end at most this share of the budget late


def portfolio_config(ws, model: str, threads: int | None = None) -> Path:
    """Write (once) ``configs/auto-<model>.yaml`` and return its path; an existing file is kept (user edits win)."""
    if model not in PORTFOLIO:
        raise ConfigError(f"auto --model {model}", expected=f"one of {', '.join(PORTFOLIO)}", found=repr(model))
    path = ws.configs_dir / f"auto-{model}.yaml"
    if not path.is_file():
        cfg = {"name": f"auto-{model}", **PORTFOLIO[model]}
        if model == "linear" and ws.competition.task == "regression":
            cfg["model"] = dict(_LINEAR_REGRESSION)
        if threads:
            cfg["threads"] = threads
        atomic_write_text(path, yaml.safe_dump(cfg, sort_keys=False))
    return path


@dataclass
class Step:
    """One line of the leaderboard: a run (or a skip) of one stage."""

    stage: str
    family: str
    run: Run | None = None
    seconds: float = 0.0
    note: str = ""

    def row(self) -> dict[str, Any]:
        return {"stage": self.stage, "family": self.family, "run": self.run.id if self.run else None,
                "model": self.run.record.model if self.run else None, "cv": self.run.cv if self.run else None,
                "seconds": round(self.seconds, 2), "note": self.note}


@dataclass
class AutoResult:
    metric: str
    direction: str
    budget: float = 0.0
    threads: int = 1
    steps: list[Step] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    id_like: dict[str, str] = field(default_factory=dict)
    features: dict[str, str] = field(default_factory=dict)  # candidate -> kept / rejected (why)
    blend: Run | None = None
    stack: Run | None = None
    seconds: float = 0.0
    exhausted: bool = False  # the plan ran out of steps before the budget (nothing skipped for time)

    @property
    def runs(self) -> list[Run]:
        """Finished single-model runs (baselines, feature checks, trials, bags), in the order made."""
        seen: dict[str, Run] = {}
        for s in self.steps:
            if s.run is not None and s.stage not in ("ensemble",):
                seen.setdefault(s.run.id, s.run)
        return list(seen.values())

    def best_of(self, family: str) -> Run | None:
        return self._best([r for s in self.steps if s.family == family and s.stage != "ensemble" and (r := s.run)])

    def _best(self, runs: list[Run]) -> Run | None:
        m = get_metric(self.metric)
        best = None
        for r in runs:
            if r.cv is not None and (best is None or m.better(float(r.cv), float(best.cv))):
                best = r
        return best

    @property
    def best(self) -> Run | None:
        return self._best([*self.runs, *(e for e in (self.blend, self.stack) if e is not None)])

    def summary(self) -> dict[str, Any]:
        best = self.best
        return {"metric": self.metric, "direction": self.direction, "budget": self.budget, "threads": self.threads,
                "seconds": round(self.seconds, 2), "plan_exhausted": self.exhausted,
                "steps": [s.row() for s in self.steps],
                "runs": [{"run": r.id, "model": r.record.model, "cv": r.cv, "seconds": r.record.seconds}
                         for r in [*self.runs, *(e for e in (self.blend, self.stack) if e is not None)]],
                "skipped": self.skipped, "id_like": self.id_like, "features": self.features,
                "blend": self.blend.id if self.blend else None, "stack": self.stack.id if self.stack else None,
                "best": best.id if best else None, "best_cv": best.cv if best else None,
                "weights": self.blend.metrics.get("weights") if self.blend else None}


class _Auto:
    """The plan's state: deadline, measured costs, the runs so far."""

    def __init__(self, ws, res: AutoResult, budget: float, threads: int, tracking: bool, resume: bool,
                 say: Callable[[str], None], executor: Any = None) -> None:
        self.ws, self.res, self.budget, self.threads = ws, res, budget, threads
        self.executor = executor  # every run's folds go to it (local, or tasks on a Ray cluster)
        self.tracking, self.resume, self.say = tracking, resume, say
        self.metric = get_metric(ws.competition.metric)
        self.t0 = time.perf_counter()
        self.deadline = self.t0 + budget
        self.cost = CostModel()
        self.features: list[dict[str, Any]] = []
        self.drop: list[str] = []
        self.k: int = 1

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def overrides(self, extra: list[str] | None = None) -> list[str]:
        from medalist.tuning.tune import _override

        out = [f"threads={self.threads}"]
        if self.drop:
            out.append(_override("columns.drop", self.drop))
        if self.features:
            out.append(_override("features", self.features))
        return out + list(extra or [])

    def train(self, family: str, extra: list[str] | None = None, *, stage: str, seeds: int = 1,
              on_fold: Callable[[float, int], None] | None = None, first: bool = False) -> Step:
        """One guarded run: stopped (status ``stopped``) after the fold whose remaining folds would end past the budget."""
        from medalist.cv.runner import train

        cfg = portfolio_config(self.ws, family)
        before = {p.name for p in self.ws.runs_dir.iterdir()} if self.ws.runs_dir.is_dir() else set()
        started, since = time.perf_counter(), now_iso()
        state = {"total": 0, "done": 0}
        hard = self.deadline + OVERRUN * self.budget * 0.5

        def guard(kind: str, payload: dict[str, Any]) -> None:
            if kind == "start":
                state["total"] = int(payload["splits"])
                self.k = max(self.k, state["total"])
            if kind != "fold_done":
                return
            state["done"] += 1
            now = time.perf_counter()
            per_fold = (now - started) / state["done"]
            if on_fold is not None:
                on_fold(float(payload["score"]), state["done"])
            if now + per_fold * (state["total"] - state["done"]) > hard:
                raise StopRun(f"{state['done']}/{state['total']} folds in {now - started:.1f}s; the rest needs "
                              f"~{per_fold * (state['total'] - state['done']):.0f}s, {self.deadline - now:.0f}s of the "
                              f"{self.budget:.0f}s budget left")

        try:
            with deadline(hard, f"the {self.budget:.0f}s budget"):  # LightGBM/XGBoost also stop inside a fold
                run = train(self.ws, cfg, self.overrides(extra), tracking=self.tracking, on_event=guard, reuse=True,
                            continue_stopped=self.resume, executor=self.executor)
        except StopRun as e:
            took = time.perf_counter() - started
            if state["done"]:
                self.cost.measure(family, took / state["done"] * max(state["total"], 1), seeds)
            if first:
                need = took / max(state["done"], 1) * max(state["total"], 1)
                done = f"{state['done']} of {state['total']} folds" if state["done"] else \
                    f"less than one of {state['total']} folds (stopped inside it)"
                raise ConfigError("auto --budget", expected=f"at least ~{need * 1.1:.0f}s on this data: the {family} "
                                  f"baseline alone took {took:.1f}s for {done} with {self.threads} thread(s)",
                                  found=f"{self.budget:.0f}s",
                                  fix=f"medalist auto --budget {max(need * 2, need + 30):.0f} (more --threads if the machine has them)") from None
            step = Step(stage, family, None, took, f"stopped: {e}")
            self.res.steps.append(step)
            self.say(f"{family} ({stage}) stopped: {e}")
            return step
        took = time.perf_counter() - started
        reused = run.id in before and (run.record.finished or "") < since
        if not reused:
            self.cost.measure(family, took, seeds)
        elif run.record.seconds:
            self.cost.measure(family, float(run.record.seconds), seeds)
        step = Step(stage, family, run, took, "reused (same resolved config)" if reused else "")
        self.res.steps.append(step)
        self.say(f"{run.id} ({stage}): CV {self.metric.name} = {run.cv:.6f} ({took:.0f}s{', reused' if reused else ''})")
        return step

    def fits(self, seconds: float | None) -> bool:
        return seconds is not None and seconds <= self.left() + OVERRUN * self.budget * 0.5


def _installed(families: list[str], res: AutoResult) -> list[str]:
    """The families whose library is installed (the others are listed as skipped); none is an error."""
    installed = []
    for name in families:
        if importlib.util.find_spec(_PACKAGE[name]) is None:
            res.skipped.append(f"{name}: not installed (pip install 'medalist[gbdt]')")
        else:
            installed.append(name)
    if not installed:
        raise ConfigError("auto --model", expected="an installed model family", found=", ".join(families),
                          fix="pip install 'medalist[gbdt]'")
    return installed


def _check_workspace(ws) -> None:
    if not ws.folds_path.is_file():
        raise ConfigError(str(ws.folds_path), expected="the workspace's folds (every auto run is validated on them)",
                          found="no folds file", fix="medalist folds (then medalist auto)")


def auto(ws, *, budget: float = 600.0, models: list[str] | None = None, threads: int | None = None,
         blend_method: str = "hill-climb", tracking: bool = True, tune: bool = True, features: bool = True,
         resume: bool = False, trials: int | None = None, step: Callable[[str], None] | None = None,
         executor: str | Any = None) -> AutoResult:
    """Spend ``budget`` seconds on the plan (baselines, features, tuning, bags, blend + stack) on the workspace's folds.

    ``executor`` (``local``, ``ray``, ``ray@ADDRESS``; default medalist.yaml's ``executor:``): where each
    run's folds train; the plan stays sequential and blends/stacks stay local (docs/auto.md, Limits).

    >>> res = auto(Workspace.find(), budget=120, models=["lightgbm", "linear"], threads=1, tune=False)
    >>> [(s["stage"], s["run"]) for s in res.summary()["steps"]]
    [('baseline', 'auto-lightgbm-001'), ('baseline', 'auto-linear-001'), ('bag', 'auto-lightgbm-bag-001'), ('ensemble', 'auto-blend-001'), ('ensemble', 'auto-stack-001')]
    >>> res.summary()["best"], res.summary()["plan_exhausted"]
    ('auto-blend-001', True)
    """
    from medalist.ensemble.autostages import bag_stage, ensemble_stage, feature_stage, tune_stage

    say = step or (lambda _msg: None)
    families = list(models or PORTFOLIO)
    for name in families:
        if name not in PORTFOLIO:
            raise ConfigError(f"auto --model {name}", expected=f"one of {', '.join(PORTFOLIO)}", found=repr(name))
    if budget <= 0:
        raise ConfigError("auto --budget", expected="a positive number of seconds", found=repr(budget))
    _check_workspace(ws)
    from medalist.cv.executor import executor_for

    executor = executor_for(ws.config.executor, executor)
    metric = get_metric(ws.competition.metric)
    threads = threads or default_threads()
    res = AutoResult(metric=metric.name, direction=metric.direction, budget=budget, threads=threads)
    a = _Auto(ws, res, budget, threads, tracking, resume, say, executor)
    facts = inspect_table(ws)
    res.id_like = facts.id_like
    if facts.id_like:
        a.drop = sorted(facts.id_like)
        for c, why in facts.id_like.items():
            say(f"left out id-like column '{c}': {why}")
    if not [c for c in facts.features if c not in facts.id_like]:
        raise DataError(str(ws.train_path), expected="at least one usable feature column",
                        found=f"features {facts.features or 'none'}; id-like, left out: {sorted(facts.id_like) or 'none'}",
                        fix="add feature columns, or list one under columns.use in configs/auto-<family>.yaml")
    installed = _installed(families, res)

    # 1. baselines: the first one measures the data (a budget too small for it is an error naming the minimum)
    first = installed[0]
    base = {first: a.train(first, stage="baseline", first=True).run}
    if features and facts.candidates:
        feature_stage(a, first, base[first], facts)
        base[first] = res.best_of(first)
    for name in sorted(installed[1:], key=lambda f: a.cost.estimate(f) or 0.0):  # cheapest first: most families in the budget
        est = a.cost.estimate(name)
        if not a.fits(est):
            res.skipped.append(f"{name} baseline: needs ~{est:.0f}s, {a.left():.0f}s of the budget left")
            continue
        s = a.train(name, stage="baseline")
        if s.run is not None:
            base[name] = s.run
    # 3-4. tuning and bags of the leading families, re-planned with the measured costs
    leaders = [f for f in sorted((f for f in base if f in SPACES and base[f] is not None),
                                 key=lambda f: float(base[f].cv), reverse=metric.direction == "maximize")][:2]
    if tune and leaders:
        tune_stage(a, leaders, trials)
    bag_stage(a, leaders)
    # 5. ensembles of the best run of each family
    ensemble_stage(a, [f for f in installed], blend_method)
    res.seconds = time.perf_counter() - a.t0
    # exhausted: every step ran and time is left; otherwise what is left was too short for the next step
    starved = [s for s in res.skipped if "budget left" in s or "a trial needs" in s or "budget is spent" in s]
    res.exhausted = res.seconds < budget * 0.9 and not starved
    if res.exhausted:
        say(f"plan exhausted after {res.seconds:.0f}s of the {budget:.0f}s budget")
    elif res.seconds < budget * 0.9:
        say(f"ended after {res.seconds:.0f}s of the {budget:.0f}s budget: the next step would not have fitted ({starved[0]})")
    return res
