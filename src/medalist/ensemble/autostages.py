"""The stages of ``medalist auto`` after the first baseline: feature candidates, tuning, bags, ensembles.

Each takes the plan's state (:class:`medalist.ensemble.auto._Auto`: deadline, measured costs, steps so
far), re-plans with what is left of the budget and records its runs (or why it skipped) as steps.
"""

from __future__ import annotations

import time
from typing import Any

import yaml

from medalist.core.errors import MedalistError
from medalist.ensemble.auto import BAG_SEEDS, OVERRUN, SPACES, Step, _Auto, portfolio_config
from medalist.ensemble.autoplan import TableFacts
from medalist.runs.store import Run, list_runs

__all__ = ["bag_stage", "ensemble_stage", "feature_stage", "tune_stage"]


def feature_stage(a: _Auto, family: str, baseline: Run, facts: TableFacts) -> None:
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
        gain, se = _fold_gain(a, s.run, best) if s.run is not None else (0.0, 0.0)
        if s.run is not None and a.metric.better(float(s.run.cv), float(best.cv)) and gain > 2 * se:
            a.res.features[name] = f"kept: CV {best.cv:.6f} -> {s.run.cv:.6f}, fold gain {gain:.6f} > 2 SE {2 * se:.6f} ({s.run.id})"
            s.note = f"features kept: {name}"
            best = s.run
        else:
            why = (f"CV {s.run.cv:.6f} vs {best.cv:.6f}, fold gain {gain:.6f} vs 2 SE {2 * se:.6f} ({s.run.id})"
                   if s.run is not None else s.note)
            a.res.features[name] = f"rejected: {why}"
            a.features, a.drop = keep_feat, keep_drop
        a.say(f"feature candidate {name}: {a.res.features[name]}")


def _fold_gain(a: _Auto, cand: Run, base: Run) -> tuple[float, float]:
    """Mean paired per-fold gain of ``cand`` over ``base`` (positive = better) and its standard error:
    a candidate is kept only when the gain is beyond two SE, not on fold noise."""
    import numpy as np

    sign = 1.0 if a.metric.direction == "maximize" else -1.0
    key = lambda f: (f["repeat"], f["fold"])  # noqa: E731
    b = {key(f): f["score"] for f in base.metrics.get("folds", [])}
    d = np.array([sign * (f["score"] - b[key(f)]) for f in cand.metrics.get("folds", []) if key(f) in b])
    if len(d) < 2:
        return 0.0, float("inf")
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))


def tune_stage(a: _Auto, leaders: list[str], max_trials: int | None = None) -> None:
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


def bag_stage(a: _Auto, leaders: list[str]) -> None:
    from medalist.tuning.tune import _override

    for family in leaders:
        est = a.cost.estimate(family, seeds=len(BAG_SEEDS))
        if not a.fits((est or 0) + _ensemble_cost(a)) or est is None:
            a.res.skipped.append(f"bag {family}: needs ~{est or 0:.0f}s, {a.left():.0f}s of the budget left")
            continue
        a.train(family, _best_overrides(a, family) + [_override("seeds", BAG_SEEDS), f"name=auto-{family}-bag"],
                stage="bag", seeds=len(BAG_SEEDS))


def ensemble_stage(a: _Auto, families: list[str], method: str) -> None:
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
