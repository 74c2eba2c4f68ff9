"""Stacking: a level-2 (meta) model trained with the same folds on the members' OOF predictions.

For each fold ``f`` the meta model is fitted on the OOF rows of the other folds and predicts fold
``f``'s rows, so no OOF row of the stack comes from a meta model that saw it; test predictions are
the mean of the per-fold meta models. Meta models are registered by name (``META``): ``logistic``,
``ridge``, ``lightgbm`` and ``conv1x3`` (HMS's 1×3-kernel stacker over model outputs, needs torch).
``select_members`` lets Optuna choose which runs enter the stack and the meta model's hyperparameters,
nested inside each outer fold so the stack's CV is not the maximum it was selected by.

Each fold's fitted meta model is saved as plain state under the run's ``models/`` (JSON arrays, or
LightGBM's text model; never a pickle) and the stack predicts from that state, so
:func:`medalist.ensemble.reapply.predict_ensemble` can re-apply it to new test rows exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medalist.core.errors import ConfigError, RunError
from medalist.ensemble.members import Members, fit_mask, load_members, scored_folds, write_ensemble_run
from medalist.ensemble.meta import (
    META,
    MetaModel,
    MetaSpec,
    as_proba,
    get_stacker,
    list_stackers,
    meta_inputs,
    register_stacker,
)
from medalist.ensemble.metastate import STATE_VERSION, SavedMeta, State
from medalist.models.protocol import to_numpy
from medalist.runs.store import Run

__all__ = ["META", "MetaModel", "MetaSpec", "StackResult", "default_meta", "stack", "stack_members", "select_members", "meta_inputs",
           "register_stacker", "get_stacker", "list_stackers", "stack_files", "as_proba"]

_as_proba = as_proba  # older name


@dataclass
class StackResult:
    meta: str
    oof: np.ndarray  # (n, K), NaN on rows not validated by every member
    test: np.ndarray
    fits: list[dict[str, Any]] = field(default_factory=list)  # per fold: rows fitted on / predicted
    states: list[State | None] = field(default_factory=list)  # per fold: the meta model's saved state
    # time folds: test rows come after every fold, so one meta model fitted on all validated rows predicts them
    test_state: State | None = None
    time_test: bool = False


def _inputs(m: Members, with_features: bool) -> tuple[np.ndarray, np.ndarray, int]:
    task = m.data.task
    X, T = meta_inputs(m.oof, task), meta_inputs(m.test, task)
    if not with_features:
        return X, T, 0
    d = m.data
    return np.hstack([X, to_numpy(d.train, d.features)]), np.hstack([T, to_numpy(d.test, d.features)]), len(d.features)


def stack_members(m: Members, meta: str = "logistic", *, with_features: bool = False, seed: int = 42,
                  threads: int | None = 1, params: dict[str, Any] | None = None, rows: np.ndarray | None = None,
                  folds: list[int] | None = None, test: bool = True) -> StackResult:
    """Train the meta model fold by fold on the members' OOF; return OOF and test predictions.

    Fold ``f`` is predicted by a meta model fitted on the rows :func:`medalist.ensemble.members.fit_mask`
    allows: the other folds, or on time folds only the earlier ones (the earliest fold, with nothing
    before it, is left unpredicted: NaN). ``rows`` restricts fitting and prediction to those rows (an
    inner CV), ``folds`` to those folds, ``params`` are the meta model's hyperparameters; ``test=False``
    skips the test predictions. Test predictions are the mean of the per-fold meta models; on time
    folds (the test rows come after all of them) those of one meta model fitted on every validated row.
    """
    task = m.data.task
    if task == "multilabel":
        raise ConfigError("stack", expected="a binary, multiclass, distribution or regression task", found="multilabel",
                          fix="blend multilabel runs with `medalist blend`")
    factory = META.get(meta)
    width = m.oof[0].shape[1]
    X, T, n_raw = _inputs(m, with_features)
    spec = MetaSpec(task=task, n_members=len(m.oof), width=width, n_raw=n_raw, seed=seed, threads=threads,
                    params=dict(params or {}))
    factory(spec)  # a meta that cannot handle this task fails before any fit
    rows = m.valid if rows is None else (m.valid & rows)
    y = m.y
    if not rows.any():
        raise RunError("stack", expected="rows validated by every member", found="none", fix="stack runs of the same folds")
    oof = np.full((len(y), width), np.nan)
    out = np.zeros((T.shape[0], width))
    use = [f for f in scored_folds(m, rows) if folds is None or f in folds]
    timed = m.scheme == "time"
    fits, states = [], []
    for f in use:
        fit_rows = np.flatnonzero(fit_mask(m, f, rows))
        pred_rows = np.flatnonzero(rows & (m.fold == f))
        model = factory(spec).fit(X[fit_rows], y[fit_rows])
        state = model.state() if hasattr(model, "state") else None
        states.append(state)
        if state is not None:  # predict from the saved state: a re-applied stack runs the same code on the same numbers
            model = SavedMeta(*state, task=task, width=width)
        oof[pred_rows] = as_proba(task, model.predict(X[pred_rows]), width)
        if test and not timed:
            out += as_proba(task, model.predict(T), width) / len(use)
        fits.append({"fold": int(f), "fit_rows": fit_rows, "pred_rows": pred_rows})
    res = StackResult(meta=meta, oof=oof, test=out, fits=fits, states=states, time_test=timed)
    if test and timed:  # not the mean of fold models fitted on ever fewer early rows
        model = factory(spec).fit(X[rows], y[rows])
        res.test_state = model.state() if hasattr(model, "state") else None
        if res.test_state is not None:
            model = SavedMeta(*res.test_state, task=task, width=width)
        res.test = as_proba(task, model.predict(T), width)
    return res


def _subset(m: Members, keep: list[int]) -> Members:
    return Members(runs=[m.runs[i] for i in keep], data=m.data, metric=m.metric, oof=[m.oof[i] for i in keep],
                   test=[m.test[i] for i in keep], fold=m.fold, folds_hash=m.folds_hash, pred_columns=m.pred_columns,
                   first=m.first, scheme=m.scheme, train_masks=m.train_masks)


@dataclass
class Selection:
    """What ``--select optuna`` chose, and the honest score of choosing it.

    ``keep``/``params``/``in_sample`` come from the search on every row (the stack that is written and
    predicts test; ``in_sample`` is its best OOF score, biased upwards because the search maximised
    it). ``nested`` is the score of ``oof``: each outer fold predicted by a stack whose members and
    hyperparameters were chosen by an inner CV over the rows that fold may be fitted on only.
    """

    keep: list[int]
    params: dict[str, Any]
    in_sample: float
    nested: float
    oof: np.ndarray
    trials: int
    per_fold: dict[int, dict[str, Any]] = field(default_factory=dict)


def _search(m: Members, meta: str, rows: np.ndarray, *, n_trials: int, seed: int, kw: dict[str, Any]):
    """Optuna (TPE) over member subsets and the meta model's hyperparameters, scored by the stack's OOF on ``rows``."""
    from medalist.core.optional import require
    from medalist.ensemble.meta import SEARCH

    optuna = require("optuna", extra="tune", purpose="--select optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    y, space = m.y, SEARCH.get(meta)

    def objective(trial):
        keep = [i for i, r in enumerate(m.ids) if trial.suggest_categorical(f"use:{r}", [True, False])]
        if not keep:
            raise optuna.TrialPruned()
        params = space(trial) if space else {}
        res = stack_members(_subset(m, keep), meta, params=params, rows=rows, test=False, **kw)
        done = rows & ~np.isnan(res.oof).any(axis=1)
        if not done.any():
            raise optuna.TrialPruned()
        return m.metric(y[done], m.out(res.oof[done]))

    study = optuna.create_study(direction=m.metric.direction, sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({f"use:{r}": True for r in m.ids})  # every member in, default hyperparameters first
    study.optimize(objective, n_trials=n_trials)
    best = study.best_trial.params
    keep = [i for i, r in enumerate(m.ids) if best[f"use:{r}"]]
    params = {k: v for k, v in best.items() if not k.startswith("use:")}
    return keep, params, float(study.best_value), len(study.trials)


def select_members(m: Members, meta: str = "logistic", *, n_trials: int = 20, seed: int = 42, with_features: bool = False,
                   threads: int | None = 1) -> Selection:
    """Nested selection of the stack's members and the meta model's hyperparameters (Optuna).

    For every outer fold ``f`` the search runs on the rows fold ``f``'s stack may be fitted on
    (an inner CV over those folds, time-ordered on time folds), and the chosen stack, fitted on
    those rows, predicts fold ``f``: the nested OOF and CV. An outer fold whose rows allow no inner
    CV (on time folds: the second one) is predicted by all members with default hyperparameters.
    The same search on every row picks the stack that is written (its best value: ``in_sample``).
    """
    kw = {"with_features": with_features, "seed": seed, "threads": threads}
    rows = m.valid
    keep, params, in_sample, trials = _search(m, meta, rows, n_trials=n_trials, seed=seed, kw=kw)
    oof = np.full_like(m.oof[0], np.nan, dtype=np.float64)
    per_fold: dict[int, dict[str, Any]] = {}
    for f in scored_folds(m, rows):
        inner = fit_mask(m, f, rows)
        if scored_folds(m, inner):
            kf, pf, vf, _ = _search(m, meta, inner, n_trials=n_trials, seed=seed + 1 + f, kw=kw)
        else:
            kf, pf, vf = list(range(len(m.ids))), {}, None
        res = stack_members(_subset(m, kf), meta, params=pf, folds=[f], test=False, **kw)
        at = rows & (m.fold == f)
        oof[at] = res.oof[at]
        per_fold[f] = {"chosen": [m.ids[i] for i in kf], "params": pf, "inner_best": vf}
    done = rows & ~np.isnan(oof).any(axis=1)
    nested = float(m.metric(m.y[done], m.out(oof[done])))
    return Selection(keep=keep, params=params, in_sample=in_sample, nested=nested, oof=oof, trials=trials, per_fold=per_fold)


def default_meta(task: str | None) -> str:
    """The meta model ``stack`` uses when none is named: ridge for regression, logistic otherwise.

    >>> default_meta("regression"), default_meta("multiclass")
    ('ridge', 'logistic')
    """
    return "ridge" if task == "regression" else "logistic"


def stack(ws, run_ids: list[str], meta: str | None = None, *, with_features: bool = False, select: str | None = None,
          trials: int = 20, seed: int = 42, threads: int | None = 1, name: str | None = None, note: str = "",
          tracking: bool = True) -> Run:
    """Stack finished runs with a meta model on the same folds and write the stack as a run.

    With ``select="optuna"`` the members and the meta model's hyperparameters are chosen by
    :func:`select_members`; the run's OOF and CV are the nested ones, and ``metrics.json``'s
    ``stack.in_sample_best`` keeps the (optimistic) best value of the search on every row. Without
    ``meta`` the task chooses it (:func:`default_meta`: ridge for regression, logistic otherwise).

    >>> run = stack(Workspace.find(), ["lgbm-001", "logreg-001"], "logistic")
    >>> run.id, round(run.cv, 4)
    ('stack-logistic-001', 0.9882)
    """
    t0 = time.perf_counter()
    if meta is not None:
        META.get(meta)
    if select not in (None, "all", "optuna"):
        raise ConfigError("stack --select", expected="'all' or 'optuna'", found=repr(select), fix="use --select optuna")
    m = load_members(ws, list(run_ids), min_runs=1, features=with_features)
    meta = meta or default_meta(m.data.task)
    selection: dict[str, Any] = {}
    params: dict[str, Any] = {}
    nested_oof = None
    if select == "optuna":
        sel = select_members(m, meta, n_trials=trials, seed=seed, with_features=with_features, threads=threads)
        params, nested_oof = sel.params, sel.oof
        selection = {"select": "optuna", "trials": sel.trials, "chosen": [m.ids[i] for i in sel.keep], "params": params,
                     "in_sample_best": sel.in_sample, "best_value": sel.in_sample, "nested": sel.nested,
                     "per_fold": {str(f): v for f, v in sel.per_fold.items()}}
        m = _subset(m, sel.keep)
    res = stack_members(m, meta, with_features=with_features, seed=seed, threads=threads, params=params)
    oof = res.oof if nested_oof is None else nested_oof
    spec = {"meta": meta, "runs": m.ids, "with_features": with_features, "seed": seed, **selection}
    extra = {"stack": {"meta": meta, "fold_rows": {str(f["fold"]): int(len(f["fit_rows"])) for f in res.fits}, **selection}}
    if selection:
        extra["in_sample"] = sel.in_sample
        extra["nested"] = sel.nested
    files = stack_files(ws, m, res, with_features=with_features, seed=seed, candidates=list(run_ids), select=select)
    return write_ensemble_run(ws, m, stem=name or f"stack-{meta}", kind="stack", oof=oof, test=res.test, spec=spec,
                              extra_metrics=extra, note=note or f"{meta} stack of {', '.join(m.ids)}",
                              seconds=time.perf_counter() - t0, tracking=tracking, files=files)


def stack_files(ws, m: Members, res: StackResult, *, with_features: bool, seed: int, candidates: list[str],
                select: str | None) -> dict[str, Any]:
    """The files that let :func:`medalist.ensemble.reapply.predict_ensemble` re-apply the stack: ``models/stack.json``
    and per fold ``models/meta-fold<F>.json`` (plus ``meta-fold<F>.<name>.txt`` such as LightGBM's text model).

    On time folds the test rows are predicted by one meta model fitted on every validated row: one entry,
    fold ``"all"`` (``meta-foldall.json``). A meta model without a saved state (a custom stacker with no
    ``state()``) gets ``"folds": null``.
    """
    from medalist.ensemble.encoding import feature_encoding

    files: dict[str, Any] = {}
    folds: list[dict[str, Any]] | None = []
    pairs = [({"fold": "all"}, res.test_state)] if res.time_test else list(zip(res.fits, res.states))
    for fit, st in pairs:
        if st is None:
            folds = None
            break
        state, texts = st
        f = fit["fold"]
        entry = {"fold": f, "state": f"meta-fold{f}.json", "texts": {}}
        files[f"models/{entry['state']}"] = state
        for key, text in texts.items():
            entry["texts"][key] = f"meta-fold{f}.{key}.txt"
            files[f"models/{entry['texts'][key]}"] = text
        folds.append(entry)
    if folds is None:
        files = {}
    files["models/stack.json"] = {
        "format": STATE_VERSION, "kind": "stack", "meta": res.meta, "runs": m.ids, "task": m.data.task, "id": m.data.id,
        "pred_columns": m.pred_columns, "width": int(m.oof[0].shape[1]), "with_features": with_features,
        "features": feature_encoding(ws, m.data) if with_features else None, "seed": seed,
        "select": select, "candidates": candidates, "n_folds": len(pairs), "folds": folds,
    }
    return files
