"""``train``: an experiment config -> checks -> the CV loop -> a run folder written through RunWriter."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medalist.core.config import ExperimentConfig, load_experiment
from medalist.core.errors import ConfigError, RunError
from medalist.core.provenance import stable_hash
from medalist.cv.runner.earlystop import group_keys, stop_plan
from medalist.cv.runner.fitting import _model_factory
from medalist.cv.runner.loop import Event, run_cv
from medalist.cv.runner.outputs import write_outputs
from medalist.cv.runner.refit import _full_fit
from medalist.cv.runner.selection import _check_selection
from medalist.cv.runner.transform import prepare_transform, run_fields
from medalist.features import FeaturePlan, apply_static, build_plan
from medalist.metrics.registry import Metric, get_metric
from medalist.runs.graph import derive_inputs
from medalist.runs.store import Run, pred_columns
from medalist.runs.writer import RunWriter
from medalist.workspace.data import CompetitionData, load_competition_data
from medalist.workspace.folds import Folds
from medalist.workspace.paths import Workspace

__all__ = ["reusable_run", "train"]

log = logging.getLogger("medalist.cv.runner")


@dataclass
class _Prepared:
    """Everything checked and loaded before a run folder exists."""

    exp: ExperimentConfig
    resolved: dict[str, Any]
    metric: Metric
    data: CompetitionData
    folds: Folds
    plan: FeaturePlan
    config_hash: str
    transform: str = "none"  # the resolved target_transform


def _config_hash(resolved: dict, ws: Workspace, folds: Folds) -> str:
    comp = ws.competition.model_dump(mode="json")
    return stable_hash({"experiment": resolved, "competition": comp, "folds": folds.hash})


def reusable_run(ws: Workspace, p: _Prepared, status: str = "done") -> Run | None:
    """The newest run with ``status`` made from the same resolved config, competition and folds as
    ``p`` (its config hash; ``threads`` alone may differ: it changes speed, not the model), if any."""
    import json

    import yaml

    from medalist.runs.store import list_runs

    def norm(cfg: dict) -> str:
        return json.dumps({k: v for k, v in cfg.items() if k != "threads"}, sort_keys=True, default=str)

    comp, mine = ws.competition.model_dump(mode="json"), norm(p.resolved)
    for r in reversed(list_runs(ws)):
        rec = r.record
        if rec.status != status or rec.folds_hash != p.folds.hash:
            continue
        if rec.config_hash == p.config_hash:
            return r
        try:
            stored = yaml.safe_load((r.path / "config.yaml").read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        if json.dumps(stored.pop("competition", None), sort_keys=True, default=str) == json.dumps(comp, sort_keys=True, default=str) \
                and norm(stored) == mine:
            return r
    return None


def _check_folds(ws: Workspace, data: CompetitionData, folds: Folds) -> None:
    group = folds.meta.get("group")
    if group and group not in data.train.columns:  # folds grouped by a column this experiment drops
        from medalist.workspace.data import read_table

        keys = read_table(ws.train_path, what="train", columns=[data.id, group])
        folds.check(data.train.join(keys, on=data.id, how="left", maintain_order="left"))
    else:
        folds.check(data.train)  # ids, train hash and group leaks


def _prepare(ws: Workspace, config_path: Path, overrides: list[str] | None) -> _Prepared:
    exp, resolved = load_experiment(config_path, overrides)
    try:
        metric = get_metric(ws.competition.metric)
    except ConfigError as e:
        raise e.within("medalist.yaml: competition.metric") from None
    try:
        _model_factory(exp)()  # unknown model name/option -> error before anything is written
    except ConfigError as e:
        raise e.within(f"{config_path}: model") from None
    data = load_competition_data(ws, exp.columns, weight=exp.weight)
    transform = prepare_transform(exp, data, metric, f"{config_path}: target_transform")  # targets in the metric's domain
    folds = Folds.load(ws.folds_path)
    _check_folds(ws, data, folds)
    # static features now, before a run folder exists: a bad block is an error with nothing written
    plan = build_plan(exp.features, data, source=str(config_path), ws=ws, folds_hash=folds.hash)
    data = apply_static(plan, data)
    if exp.model_selection_by is not None:
        _check_selection(exp, data, plan, config_path)
    try:  # a stopping metric no library hook can evaluate: an error before the run folder exists
        stop_plan(exp, metric, data, folds, stops_early=getattr(_model_factory(exp)(), "stops_early", False))
    except ConfigError as e:
        raise e.within(str(config_path)) from None
    return _Prepared(exp, resolved, metric, data, folds, plan, _config_hash(resolved, ws, folds), transform)


def _open_writer(ws: Workspace, p: _Prepared, config_path: Path, overrides: list[str] | None, resume: str | None,
                 note: str | None, checked: bool = False) -> RunWriter | None:
    """A writer for a new run, or for ``resume``'s folder; None when that run is already done."""
    exp, data = p.exp, p.data
    fields = dict(
        model=exp.model.name, config=str(config_path), overrides=list(overrides or []),
        config_hash=p.config_hash, folds_hash=p.folds.hash, train_hash=p.folds.meta.get("train_hash"),
        seeds=exp.seeds, full_fit=exp.full_fit, note=note if note is not None else exp.note,
        task=data.task, classes=data.classes, pred_columns=pred_columns(data.task, data.classes, data.target),
        **run_fields(p.transform, p.metric),
        inputs=derive_inputs(p.resolved, per_fold={s.block.name for s in p.plan.steps if s.block.per_fold} | {"target_encode"}),
    )
    if not resume:
        return RunWriter.create(ws.runs_dir, exp.name or config_path.stem, **fields)
    run = Run.open(ws, resume)
    old = run.record
    if old.config_hash != p.config_hash and not checked:  # checked: reusable_run found it the same but for threads
        raise RunError(
            f"run '{resume}'", expected=f"the same config, data and folds as when it started (hash {old.config_hash})",
            found=f"hash {p.config_hash}: the config, competition, train data or folds changed",
            fix="start a new run (drop --resume) or restore the original config",
        )
    return None if old.status == "done" else RunWriter.resume(run, **fields)


def _execute(ws: Workspace, p: _Prepared, w: RunWriter, resumed: bool, on_event: Event | None, executor: Any = None) -> None:
    exp, data, metric = p.exp, p.data, p.metric
    if not resumed:
        w.yaml("config.yaml", {"competition": ws.competition.model_dump(mode="json"), **p.resolved})
        w.provenance(ws.root)
    w.start()
    log.info("run %s: %s on %d rows, %d features, folds %s", w.id, exp.model.name, data.train.height, len(data.features), p.folds.hash)
    if p.plan.cache_hits or p.plan.cache_misses:
        log.info("features: %d static blocks from the feature cache, %d computed", len(p.plan.cache_hits), len(p.plan.cache_misses))

    def emit(kind: str, payload: dict[str, Any]) -> None:
        if kind == "fold_done":
            log.info("repeat %s fold %s: %s=%.6f (%.1fs)", payload["repeat"], payload["fold"], metric.name, payload["score"], payload["seconds"])
            if payload.get("clipped_predictions"):
                log.warning("repeat %s fold %s: %d predictions clipped into %s's domain (%s)", payload["repeat"], payload["fold"],
                            payload["clipped_predictions"], metric.name, metric.domain.describe() if metric.domain else "")
        if on_event:
            on_event(kind, payload)

    from medalist.workspace.data import read_table

    groups = group_keys(data, p.folds, lambda cols: read_table(ws.train_path, what="train", columns=cols))
    res = run_cv(data, p.folds, exp, metric, run_dir=w.path, resume=resumed, on_event=emit, features=p.plan, groups=groups,
                 executor=executor)
    if exp.full_fit:
        emit("full_fit", {})
        res.test = _full_fit(data, exp, metric, res.scores, w.path, p.folds, p.plan)
    summary = write_outputs(w, data, exp, metric, res, w.record.pred_columns)
    w.finish(cv=summary["oof"], metric=summary["metric"])  # run.json last: status done means the folder is complete
    log.info("run %s done: OOF %s=%.6f, folds %.6f ± %.6f", w.id, metric.name, summary["oof"], summary["mean"], summary["std"])


def _disk_error(e: OSError, w: RunWriter, config_path: Path) -> RunError:
    where = getattr(e, "filename", None) or str(w.path)
    return RunError(
        f"run '{w.id}': writing {where}", expected="a writable run folder with free space",
        found=f"{type(e).__name__}: {e.strerror or e}; no partial file was left (writes are atomic)",
        fix=f"free space or fix permissions, then `medalist train {config_path} --resume {w.id}` (finished folds are kept)",
    )


def train(
    ws: Workspace,
    config_path: Path,
    overrides: list[str] | None = None,
    *,
    resume: str | None = None,
    tracking: bool = True,
    note: str | None = None,
    on_event: Event | None = None,
    executor: str | Any = None,
    reuse: bool = False,
    continue_stopped: bool = False,
) -> Run:
    """Run a config's CV on the workspace's folds and write a run folder.

    >>> run = train(Workspace.find(), Path("configs/lgbm.yaml"), ["model.params.learning_rate=0.03"])
    >>> run.id, round(run.cv, 4)
    ('lgbm-002', 0.9904)

    ``executor``: ``--executor``'s value (``local``, ``ray``, ``ray@ADDRESS``; None: medalist.yaml's
    ``executor:``, else local) or an executor object (:mod:`medalist.cv.executor`) to share across runs.

    ``reuse``: a finished run with the same resolved config hash (config, competition, folds) is
    returned instead of training it again (``medalist auto``); with ``continue_stopped`` too, a
    ``stopped`` run with that hash is resumed from its saved folds (``medalist auto --resume``).
    """
    config_path = Path(config_path)
    p = _prepare(ws, config_path, overrides)
    checked = False
    if reuse and not resume and (same := reusable_run(ws, p)) is not None:
        log.info("run %s has the same resolved config (hash %s): reused, not retrained", same.id, p.config_hash)
        return same
    if reuse and continue_stopped and not resume and (stopped := reusable_run(ws, p, "stopped")) is not None:
        log.info("run %s was stopped by a budget: resumed", stopped.id)
        resume = stopped.id
        checked = True
    if executor is None or isinstance(executor, str):
        from medalist.core.executors import resolve_executor
        from medalist.cv.executor import make_executor

        executor = make_executor(resolve_executor(ws.config.executor, executor))  # connected before a run folder exists
    w = _open_writer(ws, p, config_path, overrides, resume, note, checked)
    if w is None:
        return Run.open(ws, resume)
    with w.log_file():
        try:
            _execute(ws, p, w, bool(resume), on_event, executor)
        except BaseException as e:
            w.fail(e)
            if isinstance(e, OSError):
                raise _disk_error(e, w, config_path) from e
            raise
    if tracking:
        warning = w.mirror(ws)
        if warning and on_event:
            on_event("warning", {"message": warning})
    return w.run
