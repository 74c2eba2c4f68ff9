"""``medalist auto``: a Kaggler's first day on a tabular competition, inside a time budget.

A time-aware plan on the workspace's folds, every step an ordinary run (``runs``, ``show``,
``compare``, ``submit``, ``package`` all work on it):

1. **baselines** — LightGBM, XGBoost, CatBoost with the settings Kagglers start from, and a linear
   model (logistic regression / ridge), from ``configs/auto-<family>.yaml`` (written once; edit it and
   rerun). Id-like columns (unique or near-unique per row, or the group column under another name) are
   left out with a note.
2. **features** — candidates for raw tables (count encoding of high-cardinality categoricals, date
   parts, group means/deviations by low-cardinality categoricals), each tried with LightGBM and kept
   only if its CV beats the baseline's; the kept ones are used by every later stage.
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

from medalist.core.errors import ConfigError, DataError, MedalistError
from medalist.core.io import atomic_write_text
from medalist.ensemble.autoplan import CostModel, TableFacts, default_threads, inspect_table
from medalist.metrics.registry import get_metric
from medalist.runs.store import Run, list_runs
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
    exhausted: bool = False  # the plan ran out of steps before the budget

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
                 say: Callable[[str], None]) -> None:
        self.ws, self.res, self.budget, self.threads = ws, res, budget, threads
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
            run = train(self.ws, cfg, self.overrides(extra), tracking=self.tracking, on_event=guard, reuse=True,
                        continue_stopped=self.resume)
        except StopRun as e:
            took = time.perf_counter() - started
            if state["done"]:
                self.cost.measure(family, took / state["done"] * max(state["total"], 1), seeds)
            if first:
                need = took / max(state["done"], 1) * max(state["total"], 1)
                raise ConfigError("auto --budget", expected=f"at least ~{need * 1.1:.0f}s on this data: the {family} "
                                  f"baseline alone took {took:.1f}s for {state['done']} of {state['total']} folds "
                                  f"with {self.threads} thread(s)", found=f"{self.budget:.0f}s",
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


def _check_workspace(ws) -> None:
    if not ws.folds_path.is_file():
        raise ConfigError(str(ws.folds_path), expected="the workspace's folds (every auto run is validated on them)",
                          found="no folds file", fix="medalist folds (then medalist auto)")


def auto(ws, *, budget: float = 600.0, models: list[str] | None = None, threads: int | None = None,
         blend_method: str = "hill-climb", tracking: bool = True, tune: bool = True, features: bool = True,
         resume: bool = False, trials: int | None = None, step: Callable[[str], None] | None = None) -> AutoResult:
    """Spend ``budget`` seconds on the plan (baselines, features, tuning, bags, blend + stack) on the workspace's folds.

    >>> res = auto(Workspace.find(), budget=300, threads=2)
    >>> res.summary()["best"], [s["stage"] for s in res.summary()["steps"]][:2]
    ('auto-stack-001', ['baseline', 'baseline'])
    """
    say = step or (lambda _msg: None)
    families = list(models or PORTFOLIO)
    for name in families:
        if name not in PORTFOLIO:
            raise ConfigError(f"auto --model {name}", expected=f"one of {', '.join(PORTFOLIO)}", found=repr(name))
    if budget <= 0:
        raise ConfigError("auto --budget", expected="a positive number of seconds", found=repr(budget))
    _check_workspace(ws)
    metric = get_metric(ws.competition.metric)
    threads = threads or default_threads()
    res = AutoResult(metric=metric.name, direction=metric.direction, budget=budget, threads=threads)
    a = _Auto(ws, res, budget, threads, tracking, resume, say)
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
    installed = []
    for name in families:
        if importlib.util.find_spec(_PACKAGE[name]) is None:
            res.skipped.append(f"{name}: not installed (pip install 'medalist[gbdt]')")
        else:
            installed.append(name)
    if not installed:
        raise ConfigError("auto --model", expected="an installed model family", found=", ".join(families),
                          fix="pip install 'medalist[gbdt]'")

    # 1. baselines: the first one measures the data (a budget too small for it is an error naming the minimum)
    first = installed[0]
    base = {first: a.train(first, stage="baseline", first=True).run}
    if features and facts.candidates:
        _feature_stage(a, first, base[first], facts)
        base[first] = res.best_of(first)
    for name in installed[1:]:
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
        _tune_stage(a, leaders, trials)
    _bag_stage(a, leaders)
    # 5. ensembles of the best run of each family
    _ensemble_stage(a, [f for f in installed], blend_method)
    res.seconds = time.perf_counter() - a.t0
    res.exhausted = res.seconds < budget * 0.9
    if res.exhausted:
        say(f"plan exhausted after {res.seconds:.0f}s of the {budget:.0f}s budget")
    return res


def _feature_stage(a: _Auto, family: str, baseline: Run, facts: TableFacts) -> None:
    """Each candidate with the first family's defaults; kept only if its CV beats the baseline's."""
    best = baseline
    for name, blocks in facts.candidates.items():
        est = a.cost.estimate(family)
        # features may take at most a third of what is left: tuning and bagging pay more on most tables
        if est is None or est > a.left() / 3:
            a.res.features[name] = f"not tried: needs ~{est or 0:.0f}s, {a.left():.0f}s of the budget left"
            continue
        keep_feat, keep_drop = list(a.features), list(a.drop)
        a.features = keep_feat + blocks
        a.drop = sorted(set(keep_drop) | set(facts.drop_with.get(name, [])))
        s = a.train(family, stage="features")
        if s.run is not None and a.metric.better(float(s.run.cv), float(best.cv)):
            a.res.features[name] = f"kept: CV {best.cv:.6f} -> {s.run.cv:.6f} ({s.run.id})"
            s.note = f"features kept: {name}"
            best = s.run
        else:
            why = f"CV {s.run.cv:.6f} vs {best.cv:.6f} ({s.run.id})" if s.run is not None else s.note
            a.res.features[name] = f"rejected: {why}"
            a.features, a.drop = keep_feat, keep_drop
        a.say(f"feature candidate {name}: {a.res.features[name]}")


def _tune_stage(a: _Auto, leaders: list[str], max_trials: int | None = None) -> None:
    from medalist.tuning.tune import ParamSpec, _mark_pruned, _optuna, _override, _suggest

    optuna = _optuna()
    for i, family in enumerate(leaders):
        # what tuning may spend: what is left minus one bag (of the leader) and the ensembles; the first
        # family gets two thirds of it when two lead, the second what the first left (re-planned then)
        trial_est = a.cost.estimate(family)
        reserve = _bag_cost(a, leaders[:1]) + _ensemble_cost(a)
        share = (a.left() - reserve) * (2 / 3 if len(leaders) - i == 2 else 1.0)
        if trial_est is None or share < 2 * trial_est:
            a.res.skipped.append(f"tune {family}: {max(share, 0):.0f}s for it, a trial needs ~{trial_est or 0:.0f}s")
            continue
        stop_at = time.perf_counter() + share
        space = {k: ParamSpec(**v) for k, v in SPACES[family].items()}
        study = optuna.create_study(direction=a.metric.direction,
                                    sampler=optuna.samplers.TPESampler(seed=42, n_startup_trials=5),
                                    pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0))
        defaults = yaml.safe_load(portfolio_config(a.ws, family).read_text())
        warm = {}
        for key, spec in space.items():
            node: Any = defaults
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node is not None and (spec.type == "categorical" or spec.low <= node <= spec.high):
                warm[key] = node
        study.enqueue_trial(warm, skip_if_exists=True)
        n = skipped = 0
        while time.perf_counter() + (a.cost.estimate(family) or 0) <= stop_at + OVERRUN * a.budget * 0.25 \
                and (max_trials is None or n < max_trials):
            trial = study.ask()
            params = {k: _suggest(trial, k, p) for k, p in space.items()}
            if n == 0 and params == warm and (known := a.res.best_of(family)) is not None \
                    and not _best_overrides(a, family):
                # the warm start is the defaults: their run (with the kept features) is already scored
                study.tell(trial, float(known.cv))
                n += 1
                continue
            # a smaller learning rate means proportionally more rounds: a trial that cannot end in time is not started
            rate = next((float(v) for k, v in params.items() if k.endswith(("learning_rate", ".eta"))), None)
            base_rate = next((float(v) for k, v in warm.items() if k.endswith(("learning_rate", ".eta"))), None)
            est = (a.cost.estimate(family) or 0) * (max(1.0, base_rate / rate) if rate and base_rate else 1.0)
            if time.perf_counter() + est > stop_at + OVERRUN * a.budget * 0.25:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                skipped += 1
                if skipped >= 3:
                    break
                continue
            stem = f"auto-{family}-t{n:03d}"
            n += 1
            scores: list[float] = []

            def on_fold(score: float, done: int, trial=trial, scores=scores) -> None:
                scores.append(score)
                trial.report(sum(scores) / len(scores), done - 1)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after {done} fold(s): running mean {sum(scores) / len(scores):.6f}")

            try:
                s = a.train(family, [_override(k, v) for k, v in params.items()] + [f"name={stem}"], stage="tune",
                            on_fold=on_fold)
            except optuna.TrialPruned as e:
                _mark_pruned(a.ws, stem, trial.number)
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                a.res.steps.append(Step("tune", family, None, 0.0, f"{stem}: {e}"))
                continue
            if s.run is None:  # stopped by the budget
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                break
            study.tell(trial, float(s.run.cv))
            s.note = (s.note + "; " if s.note else "") + ("defaults (warm start)" if n == 1 else f"trial {trial.number}")
        best = a.res.best_of(family)
        a.say(f"tune {family}: {n} trial(s), best {best.id if best else None}")


def _best_overrides(a: _Auto, family: str) -> list[str]:
    """The overrides of the best run of ``family`` so far (a tuned trial's parameters), name dropped."""
    best = a.res.best_of(family)
    if best is None:
        return []
    return [o for o in best.record.overrides if not o.startswith(("name=", "threads=", "features=", "columns.drop="))]


def _bag_cost(a: _Auto, families: list[str]) -> float:
    return sum(a.cost.estimate(f, seeds=len(BAG_SEEDS)) or 0.0 for f in families)


def _ensemble_cost(a: _Auto) -> float:
    return 2.0 + 0.01 * a.budget


def _bag_stage(a: _Auto, leaders: list[str]) -> None:
    from medalist.tuning.tune import _override

    for family in leaders:
        est = a.cost.estimate(family, seeds=len(BAG_SEEDS))
        if not a.fits((est or 0) + _ensemble_cost(a)) or est is None:
            a.res.skipped.append(f"bag {family}: needs ~{est or 0:.0f}s, {a.left():.0f}s of the budget left")
            continue
        a.train(family, _best_overrides(a, family) + [_override("seeds", BAG_SEEDS), f"name=auto-{family}-bag"],
                stage="bag", seeds=len(BAG_SEEDS))


def _ensemble_stage(a: _Auto, families: list[str], method: str) -> None:
    from medalist.ensemble import blend, stack

    members = [r.id for f in families if (r := a.res.best_of(f)) is not None]
    if len(members) < 2:
        return
    for kind in ("blend", "stack"):
        if a.left() < -OVERRUN * a.budget * 0.5:
            a.res.skipped.append(f"{kind}: the budget is spent")
            continue
        started = time.perf_counter()
        model = f"blend:{method}" if kind == "blend" else "stack:"
        done = [r for r in list_runs(a.ws) if r.record.status == "done" and r.record.members == members
                and (r.record.model or "").startswith(model) and r.id.startswith(f"auto-{kind}-")]
        try:
            if done:
                run = done[-1]
                setattr(a.res, kind, run)
            elif kind == "blend":
                run = blend(a.ws, members, method, name="auto-blend", tracking=a.tracking, note=f"medalist auto: {method} blend")
                a.res.blend = run
            else:
                run = stack(a.ws, members, None, threads=a.threads, name="auto-stack", tracking=a.tracking,
                            note="medalist auto: level-2 stack")
                a.res.stack = run
        except MedalistError as e:
            a.res.skipped.append(f"{kind}: {e}")
            continue
        took = time.perf_counter() - started
        a.res.steps.append(Step("ensemble", kind, run, took, ("reused; " if done else "") + f"members: {', '.join(members)}"))
        a.say(f"{run.id}: {'nested ' if kind == 'blend' else ''}CV {a.metric.name} = {run.cv:.6f} ({took:.0f}s)")
