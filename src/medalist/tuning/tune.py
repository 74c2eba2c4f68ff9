"""Optuna tuning of an experiment config: every trial is a CV run, pruned on its per-fold scores.

The search space lives in the config's ``tune:`` block; keys are the dotted paths the command line
overrides use::

    tune:
      sampler: tpe            # or random
      seed: 42
      pruner: {name: median, n_startup_trials: 5, n_warmup_steps: 0}   # or {name: none}
      space:
        model.params.learning_rate: {type: float, low: 0.005, high: 0.3, log: true}
        model.params.num_leaves: {type: int, low: 8, high: 256, log: true}
        model.params.feature_fraction: {type: float, low: 0.4, high: 1.0}
        model.params.boosting: {type: categorical, choices: [gbdt, goss]}

After each fold the trial reports the mean of its fold scores so far; the MedianPruner stops a trial
whose running mean is worse than the median of earlier trials at the same fold, so bad settings cost
one or two folds. The study lives in an Optuna storage: SQLite in the workspace by default, or any
RDB URL (``postgresql://user@host/db``) that several ``medalist tune --worker`` processes on several
machines share — Optuna's own RDB storage does the coordination.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator

from medalist.core.config import (
    Strict,
    apply_overrides,
    load_experiment,
    load_yaml,
    validate,
)
from medalist.core.errors import ConfigError, MedalistError
from medalist.core.io import atomic_write_text
from medalist.core.optional import require
from medalist.metrics.registry import get_metric
from medalist.runs.store import Run
from medalist.runs.writer import RunWriter

__all__ = ["TuneConfig", "ParamSpec", "TuneResult", "tune", "load_tune_config", "dashboard_command", "default_storage"]


class ParamSpec(Strict):
    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _check(self) -> "ParamSpec":
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty 'choices' list")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs 'low' and 'high'")
        if not self.low < self.high:
            raise ValueError(f"'low' ({self.low}) must be below 'high' ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"log scale needs 'low' > 0, got {self.low}")
        if self.log and self.step is not None:
            raise ValueError("'step' and 'log' cannot be combined")
        return self


class PrunerConfig(Strict):
    name: Literal["median", "none"] = "median"
    n_startup_trials: int = Field(default=5, ge=0)
    n_warmup_steps: int = Field(default=0, ge=0)


class TuneConfig(Strict):
    space: dict[str, ParamSpec]
    sampler: Literal["tpe", "random"] = "tpe"
    seed: int | None = 42
    pruner: PrunerConfig = Field(default_factory=PrunerConfig)

    @model_validator(mode="after")
    def _nonempty(self) -> "TuneConfig":
        if not self.space:
            raise ValueError("space must list at least one parameter")
        return self


def load_tune_config(config: Path) -> TuneConfig:
    """The validated ``tune:`` block of an experiment config (ConfigError if absent or wrong)."""
    exp, _ = load_experiment(config)
    if not exp.tune:
        raise ConfigError(f"{config}: key 'tune'", expected="a tune: block with a search space",
                          found="none", fix="add e.g. tune: {space: {model.params.learning_rate: {type: float, low: 0.01, high: 0.3, log: true}}}")
    tc = validate(TuneConfig, exp.tune, f"{config}: tune")
    # every key must be a valid override of the config: try the low end of each range now
    probe = [f"{k}={yaml.safe_dump(_probe_value(p), default_flow_style=True).strip().removesuffix('...').strip()}" for k, p in tc.space.items()]
    try:
        load_experiment(config, probe)
    except ConfigError as e:
        raise e.within(f"{config}: tune.space") from None
    return tc


def _probe_value(p: ParamSpec) -> Any:
    if p.type == "categorical":
        return p.choices[0]
    return int(p.low) if p.type == "int" else float(p.low)


def _optuna():
    optuna = require("optuna", extra="tune", purpose="medalist tune")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def default_storage(ws) -> str:
    return f"sqlite:///{(ws.root / 'optuna.db').resolve()}"


def dashboard_command(ws, storage: str | None = None) -> str:
    """The optuna-dashboard command line for this workspace's (or the given) study storage."""
    return f"optuna-dashboard {storage or default_storage(ws)}   # pip install optuna-dashboard"


def storage_url(url: str) -> str:
    """SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3; medalist[tune] ships psycopg2, so a bare
    PostgreSQL URL is pinned to whichever driver is installed."""
    import importlib.util

    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgresql", "postgres") and importlib.util.find_spec("psycopg") is None \
            and importlib.util.find_spec("psycopg2") is not None:
        return f"postgresql+psycopg2://{rest}"
    return url


def _suggest(trial, name: str, p: ParamSpec) -> Any:
    if p.type == "categorical":
        return trial.suggest_categorical(name, p.choices)
    if p.type == "int":
        return trial.suggest_int(name, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
    return trial.suggest_float(name, p.low, p.high, step=p.step, log=p.log)


def _override(key: str, value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True).strip()
    return f"{key}={text.removesuffix('...').strip()}"


def _sampler(optuna, tc: TuneConfig):
    if tc.sampler == "random":
        return optuna.samplers.RandomSampler(seed=tc.seed)
    return optuna.samplers.TPESampler(seed=tc.seed)


def _pruner(optuna, tc: TuneConfig):
    if tc.pruner.name == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=tc.pruner.n_startup_trials,
                                       n_warmup_steps=tc.pruner.n_warmup_steps, interval_steps=1)


class _TrialCrashed(Exception):
    """A library error inside one trial (e.g. a parameter combination a model rejects): the trial
    fails and the study goes on. medalist's own errors (bad config, data) stop the study instead."""


@dataclass
class TuneResult:
    study: Any
    storage: str
    metric: str
    best_config: Path | None = None
    mine: list[int] = field(default_factory=list)  # trial numbers run by this process

    def summary(self) -> dict[str, Any]:
        states = [t.state.name for t in self.study.trials]
        done = [t for t in self.study.trials if t.state.name == "COMPLETE"]
        best = self.study.best_trial if done else None
        shown = self.storage.split("://")[0] + "://" + self.storage.split("@")[-1] if "@" in self.storage else self.storage  # no password
        return {
            "study": self.study.study_name, "storage": shown, "metric": self.metric,
            "direction": self.study.direction.name.lower(), "trials": len(states),
            "complete": states.count("COMPLETE"), "pruned": states.count("PRUNED"), "failed": states.count("FAIL"),
            "best_value": best.value if best else None, "best_params": best.params if best else None,
            "best_run": best.user_attrs.get("run") if best else None,
            "best_config": str(self.best_config) if self.best_config else None, "mine": self.mine,
            "trials_detail": [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
                               "run": t.user_attrs.get("run"), "worker": t.user_attrs.get("worker"),
                               "folds": len(t.intermediate_values)} for t in self.study.trials],
        }


def _create_study(optuna, name: str, storage: str, direction: str, tc: TuneConfig):
    # Several workers may create the same study (and the schema) at once: retry a lost race.
    for attempt in range(5):
        try:
            return optuna.create_study(study_name=name, storage=storage, direction=direction, load_if_exists=True,
                                       sampler=_sampler(optuna, tc), pruner=_pruner(optuna, tc))
        except Exception as e:  # sqlalchemy IntegrityError/OperationalError while another worker creates
            if attempt == 4 or isinstance(e, (ImportError, ValueError)):
                if isinstance(e, (ImportError, ModuleNotFoundError)):
                    raise ConfigError(f"--storage {storage.split('@')[-1]}", expected="a storage whose driver is installed",
                                      found=str(e), fix="pip install 'medalist[tune]' (psycopg2 for postgresql://)") from None
                raise
            time.sleep(0.5 + attempt)


def _mark_pruned(ws, stem: str, trial_number: int) -> RunWriter | None:
    """The pruned trial's run folder (status 'failed' from the runner) is relabelled 'pruned'."""
    cands = []
    for p in ws.runs_dir.glob(f"{stem}-*"):
        if not (p / "run.json").is_file():
            continue
        rec = Run(p.name, p).record
        if rec.status == "failed" and str(rec.error or "").startswith("TrialPruned"):
            cands.append((rec.created or "", p.name, rec))
    if not cands:
        return None
    _, rid, rec = max(cands, key=lambda c: c[:2])
    w = RunWriter(ws.runs_dir / rid, rec)
    w.update(status="pruned", pruned_after_folds=len(list((w.path / "parts").glob("*.json"))))
    w.save()
    return w


def _executor(ws, parallel: int, executor: Any) -> Any:
    """The executor every trial's folds run on (one Ray connection for the study); checks ``parallel``."""
    from medalist.core.executors import resolve_executor
    from medalist.cv.executor import make_executor

    if parallel < 1:
        raise ConfigError("--parallel", expected="at least 1 trial at once", found=str(parallel))
    if executor is None or isinstance(executor, str):
        executor = make_executor(resolve_executor(ws.config.executor, executor))
    return executor


def tune(ws, config: Path, *, n_trials: int = 20, timeout: float | None = None, storage: str | None = None,
         study_name: str | None = None, worker: bool = False, tracking: bool = True,
         on_trial: Callable[[dict[str, Any]], None] | None = None, parallel: int = 1,
         executor: str | Any = None) -> TuneResult:
    """Run (or join) an Optuna study over the config's ``tune:`` space; ``n_trials`` counts the whole study.

    Without ``worker`` the best trial's parameters are written beside the config as ``<stem>-tuned.yaml``.
    ``parallel``: trials at once (Optuna's ``n_jobs`` threads in this process, each asking the study for
    its own trial, so no trial runs twice); ``executor`` (``ray``, ``ray@ADDRESS``; default medalist.yaml's
    ``executor:``) runs every trial's folds as tasks on a Ray cluster, pruning still after each fold.

    >>> res = tune(Workspace.find(), Path("configs/lgbm.yaml"), n_trials=3)
    >>> s = res.summary()
    >>> s["complete"], s["best_params"], s["best_run"], s["best_config"]
    (3, {'model.params.num_leaves': 14}, 'lgbm-t0000-001', 'configs/lgbm-tuned.yaml')
    """
    from medalist.cv.runner import train

    executor = _executor(ws, parallel, executor)
    optuna = _optuna()
    config = Path(config)
    tc = load_tune_config(config)
    exp, _ = load_experiment(config)
    metric = get_metric(ws.competition.metric)
    name = study_name or exp.name or config.stem
    url = storage_url(storage or default_storage(ws))
    study = _create_study(optuna, name, url, metric.direction, tc)
    if study.direction.name.lower() != metric.direction:
        raise ConfigError(f"study '{name}'", expected=f"direction {metric.direction} (metric {metric.name})",
                          found=study.direction.name.lower(), fix="use another --study name")
    who = f"{socket.gethostname()}:{os.getpid()}"
    mine: list[int] = []

    def objective(trial) -> float:
        mine.append(trial.number)
        params = {k: _suggest(trial, k, p) for k, p in tc.space.items()}
        stem = f"{name}-t{trial.number:04d}"
        overrides = [_override(k, v) for k, v in params.items()] + [f"name={stem}"]
        trial.set_user_attr("worker", who)
        scores: list[float] = []

        def on_event(kind: str, payload: dict[str, Any]) -> None:
            if kind != "fold_done":
                return
            scores.append(float(payload["score"]))
            trial.report(sum(scores) / len(scores), len(scores) - 1)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after {len(scores)} fold(s): running mean {sum(scores) / len(scores):.6f}")

        try:
            run = train(ws, config, overrides, tracking=tracking, note=f"tune {name} trial {trial.number}", on_event=on_event,
                        executor=executor)
        except optuna.TrialPruned:
            pruned = _mark_pruned(ws, stem, trial.number)
            if pruned is not None:
                trial.set_user_attr("run", pruned.id)
                if tracking:  # KILLED in MLflow with its finished folds' scores; never fails the study
                    pruned.mirror(ws)
            raise
        except MedalistError:
            raise
        except Exception as e:
            raise _TrialCrashed(f"{type(e).__name__}: {e}") from e
        trial.set_user_attr("run", run.id)
        return float(run.cv)

    def report(study_, trial) -> None:
        if on_trial:
            on_trial({"number": trial.number, "state": trial.state.name, "value": trial.value,
                      "run": trial.user_attrs.get("run"), "params": trial.params})

    stop = optuna.study.MaxTrialsCallback(n_trials, states=None)  # every state, every worker
    if len(study.trials) < n_trials:
        left = n_trials - len(study.trials) if parallel > 1 else None  # threads: no overshoot past n_trials
        study.optimize(objective, n_trials=left, timeout=timeout, callbacks=[report, stop], catch=(_TrialCrashed,),
                       gc_after_trial=False, n_jobs=parallel)
    res = TuneResult(study=study, storage=url, metric=metric.name, mine=mine)
    if not worker and any(t.state.name == "COMPLETE" for t in study.trials):
        res.best_config = write_best_config(config, study.best_trial.params, study.best_value, name)
    return res


def write_best_config(config: Path, params: dict[str, Any], value: float, study: str) -> Path:
    """``<stem>-tuned.yaml`` beside ``config``: the same YAML with the best values, without ``tune:``."""
    data = load_yaml(config)
    data.pop("tune", None)
    data = apply_overrides(data, [_override(k, v) for k, v in params.items()])
    data["note"] = f"best of study '{study}' (CV {value:.6f})"
    if data.get("name"):
        data["name"] = f"{data['name']}-tuned"
    out = config.with_name(f"{config.stem}-tuned.yaml")
    atomic_write_text(out, yaml.safe_dump(data, sort_keys=False))
    return out
