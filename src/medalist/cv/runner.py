"""The cross-validation loop: per fold fit -> predict valid and test -> write.

The runner only talks to the :class:`~medalist.models.Model` protocol, the saved folds and the run
store, so GBDTs, sklearn pipelines and later image/signal/ranker models go through the same loop.
Each fold's predictions are written atomically as soon as the fold ends; ``resume=`` keeps them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from medalist.core.config import ExperimentConfig, load_experiment
from medalist.core.errors import ConfigError, RunError, did_you_mean
from medalist.core.io import (
    atomic_write,
    atomic_write_json,
    atomic_write_parquet,
    atomic_write_text,
)
from medalist.core.provenance import git_info, package_versions, stable_hash
from medalist.features import FeaturePlan, apply_static, build_plan, fold_labels
from medalist.metrics.library import Metric, get_metric
from medalist.models import FitContext, create_model
from medalist.runs.store import Run, new_run_id, pred_columns
from medalist.workspace.data import CompetitionData, load_competition_data
from medalist.workspace.folds import Folds
from medalist.workspace.paths import Workspace

__all__ = ["train", "run_cv", "CVResult", "Event"]

log = logging.getLogger("medalist.cv.runner")

Event = Callable[[str, dict[str, Any]], None]


@dataclass
class CVResult:
    """What a CV loop produced, before it is written to a run folder."""

    oof: np.ndarray  # (n,) or (n, K); NaN for rows never validated
    test: np.ndarray
    fold_of: np.ndarray  # validation fold of each train row in repeat 0 (-1: never validated)
    scores: list[dict[str, Any]] = field(default_factory=list)
    importance: list[dict[str, float]] = field(default_factory=list)
    curves: list[dict[str, Any]] = field(default_factory=list)


def _model_factory(exp: ExperimentConfig):
    m = exp.model

    def make():
        return create_model(
            m.name, m.params, early_stopping_rounds=m.early_stopping_rounds,
            num_boost_round=m.num_boost_round, **m.options,
        )

    return make


def _context(data: CompetitionData, exp: ExperimentConfig, metric: Metric, seed: int, sink: list, tag: dict,
             features: list[str] | None = None) -> FitContext:
    def _log(name: str, value: float, step: int) -> None:
        sink.append({**tag, "name": name, "step": int(step), "value": float(value)})

    return FitContext(
        task=data.task, target=data.target, features=features or data.features, categorical=data.categorical,
        weight=data.weight, seed=seed, n_classes=data.n_classes, metric=metric, log=_log, threads=exp.threads,
        chunk_rows=exp.predict.chunk_rows,
    )


def _y(data: CompetitionData, frame: pl.DataFrame) -> np.ndarray:
    if data.task == "multilabel":
        return frame.select(data.target).to_numpy()
    return frame.get_column(data.target[0]).to_numpy()


def _part_paths(run_dir: Path, repeat: int, fold: int) -> tuple[Path, Path, Path]:
    base = run_dir / "parts" / f"r{repeat}_f{fold}"
    return base.with_suffix(".valid.npy"), base.with_suffix(".test.npy"), base.with_suffix(".json")


def _save_npy(path: Path, arr: np.ndarray) -> None:
    def w(p: Path) -> None:
        with open(p, "wb") as fh:
            np.save(fh, arr)

    atomic_write(path, w, durable=False)


def run_cv(
    data: CompetitionData,
    folds: Folds,
    exp: ExperimentConfig,
    metric: Metric,
    *,
    run_dir: Path | None = None,
    resume: bool = False,
    on_event: Event | None = None,
    features: FeaturePlan | None = None,
) -> CVResult:
    """Fit one fresh model per (repeat, fold, seed); return OOF and test predictions.

    With ``run_dir`` each fold is persisted under ``parts/`` when it ends, and ``resume=True``
    loads finished folds instead of refitting them. ``data`` already holds the static features of
    ``features``; its per-fold blocks (target encoding) are computed here from each split's train rows.
    """
    emit = on_event or (lambda *_: None)
    make = _model_factory(exp)
    splits = folds.splits(data.train)
    n, n_test = data.train.height, data.test.height
    width = len(data.classes) if data.task == "multiclass" else len(data.target) if data.task == "multilabel" else 0
    shape = (lambda rows: (rows, width) if width else (rows,))
    repeats = sorted({s.repeat for s in splits})
    oof_sum = np.zeros(shape(n))
    oof_cnt = np.zeros(n)
    test_sum = np.zeros(shape(n_test))
    fold_of = np.full(n, -1, dtype=np.int16)
    res = CVResult(oof=oof_sum, test=test_sum, fold_of=fold_of)
    inner = fold_labels(folds, data.train) if features is not None and features.per_fold else {}
    emit("start", {"splits": len(splits), "seeds": len(exp.seeds)})
    for split in splits:
        if split.repeat == repeats[0]:
            fold_of[split.valid_idx] = split.fold
        valid_path, test_path, info_path = _part_paths(run_dir, split.repeat, split.fold) if run_dir else (None,) * 3
        if resume and info_path is not None and info_path.is_file() and valid_path.is_file() and test_path.is_file():
            pv, pt = np.load(valid_path), np.load(test_path)
            info = json.loads(info_path.read_text())
            emit("fold_resumed", info)
        else:
            t0 = time.perf_counter()
            tr, va, te = data.train[split.train_idx], data.train[split.valid_idx], data.test
            cols = data.features
            if inner:
                tr, va, te, extra = features.for_split(tr, va, te, inner[split.repeat][split.train_idx])
                cols = [*data.features, *extra]
            best, curves = [], []

            def fit(use: list[str], suffix: str = "") -> tuple[np.ndarray, np.ndarray]:
                pv, pt = np.zeros(shape(len(split.valid_idx))), np.zeros(shape(n_test))
                for seed in exp.seeds:
                    tag = {"repeat": split.repeat, "fold": split.fold, "seed": seed}
                    ctx = _context(data, exp, metric, seed, curves, tag, use)
                    model = make().fit(tr, va, ctx)
                    pv += model.predict(va) / len(exp.seeds)
                    pt += model.predict(te) / len(exp.seeds)
                    best.append(getattr(model, "best_iteration", None))
                    imp = model.feature_importance()
                    if imp and not suffix:
                        res.importance.append({**tag, **imp})
                    if run_dir is not None:
                        model.save(run_dir / "models" / f"r{split.repeat}_f{split.fold}_s{seed}{suffix}")
                return pv, pt

            pv, pt = fit(cols)
            extra_info: dict[str, Any] = {}
            if exp.model_selection_by is not None:
                column = exp.model_selection_by.column_known
                reduced = _reduced_features(exp, features, cols)
                pv_u, pt_u = fit(reduced, "_unknown")
                known_v, known_t = _known(column, tr, va), _known(column, tr, te)
                y_va = _y(data, va)
                extra_info = {
                    "score_full_model": metric(y_va, pv), "score_reduced_model": metric(y_va, pv_u),
                    "valid_known_share": float(known_v.mean()), "test_known_share": float(known_t.mean()),
                }
                pv, pt = _pick(known_v, pv, pv_u), _pick(known_t, pt, pt_u)
            score = metric(_y(data, va), pv)
            info = {
                "repeat": split.repeat, "fold": split.fold, "score": score,
                "best_iterations": best, "seconds": round(time.perf_counter() - t0, 3),
                "n_train": len(split.train_idx), "n_valid": len(split.valid_idx), **extra_info,
            }
            res.curves.extend(curves)
            if run_dir is not None:
                _save_npy(valid_path, pv)
                _save_npy(test_path, pt)
                atomic_write_json(info_path, info, durable=False)
            emit("fold_done", info)
        res.scores.append(info)
        oof_sum[split.valid_idx] += pv
        oof_cnt[split.valid_idx] += 1
        test_sum += pt / len(splits)
    with np.errstate(invalid="ignore", divide="ignore"):
        res.oof = oof_sum / (oof_cnt.reshape(-1, *([1] * (oof_sum.ndim - 1))))
    res.test = test_sum
    return res


def _reduced_features(exp: ExperimentConfig, plan: FeaturePlan | None, cols: list[str]) -> list[str]:
    """The features of the model for rows whose ``model_selection_by.column_known`` value is unseen."""
    sel = exp.model_selection_by
    if sel.drop is not None:
        drop = set(sel.drop)
        unknown = sorted(drop - set(cols))
        if unknown:
            raise ConfigError("model_selection_by.drop", expected="features of this run",
                              found=f"{', '.join(repr(c) for c in unknown)}{did_you_mean(unknown[0], cols)}", fix="fix the names")
    else:
        drop = {sel.column_known, *(plan.derived_from(sel.column_known) if plan is not None else [])}
    reduced = [c for c in cols if c not in drop]
    if len(reduced) == len(cols):
        raise ConfigError("model_selection_by", expected="features to leave out of the reduced model",
                          found=f"no feature is '{sel.column_known}' or made from it",
                          fix="list them in model_selection_by.drop, or pick a column that is a feature")
    if not reduced:
        raise ConfigError("model_selection_by", expected="features left for the reduced model", found="none",
                          fix="drop fewer columns")
    return reduced


def _check_selection(exp: ExperimentConfig, data: CompetitionData, plan: FeaturePlan, config_path: Path) -> None:
    """Fail before anything is written when ``model_selection_by`` names nothing usable."""
    sel = exp.model_selection_by
    where = f"{config_path}: model_selection_by"
    for frame, name in ((data.train, "train"), (data.test, "test")):
        if sel.column_known not in frame.columns:
            raise ConfigError(f"{where}.column_known", expected=f"a feature, group or time column present in {name}",
                              found=f"no column '{sel.column_known}'{did_you_mean(sel.column_known, frame.columns)}",
                              fix="name a column the run reads (e.g. the hospital column)")
    if not plan.per_fold:  # with per-fold blocks the full feature list exists only inside the folds
        try:
            _reduced_features(exp, plan, data.features)
        except ConfigError as e:
            raise e.within(str(config_path)) from None


def _known(column: str, fit_rows: pl.DataFrame, rows: pl.DataFrame) -> np.ndarray:
    """Whether each row's ``column`` value occurs in the rows the model was fitted on (null: unknown)."""
    seen = fit_rows.get_column(column).drop_nulls().unique()
    return rows.get_column(column).is_in(seen.implode()).fill_null(False).to_numpy().astype(bool)


def _pick(known: np.ndarray, full: np.ndarray, reduced: np.ndarray) -> np.ndarray:
    mask = known.reshape(-1, *([1] * (full.ndim - 1)))
    return np.where(mask, full, reduced)


def _full_fit(data: CompetitionData, exp: ExperimentConfig, metric: Metric, scores: list[dict], run_dir: Path | None,
              folds: Folds | None = None, features: FeaturePlan | None = None) -> np.ndarray:
    """Refit on every train row with the mean best iteration; return the test prediction."""
    best = [b for s in scores for b in s.get("best_iterations", []) if b]
    n_iter = int(round(float(np.mean(best)))) if best else None
    make = _model_factory(exp)
    pred = None
    train, test, cols = data.train, data.test, data.features
    if features is not None and features.per_fold and folds is not None:
        # every train row encoded out-of-fold with the saved folds, test from all train rows
        labels = fold_labels(folds, data.train)
        train, _, test, extra = features.for_split(train, train.clear(), test, labels[min(labels)])
        cols = [*cols, *extra]
    variants = [(cols, "")]
    if exp.model_selection_by is not None:
        variants.append((_reduced_features(exp, features, cols), "_unknown"))
    preds = []
    for use, suffix in variants:
        pred = None
        for seed in exp.seeds:
            ctx = _context(data, exp, metric, seed, [], {}, use)
            ctx.num_iterations = n_iter
            model = make().fit(train, None, ctx)
            p = model.predict(test) / len(exp.seeds)
            pred = p if pred is None else pred + p
            if run_dir is not None:
                model.save(run_dir / "models" / f"full_s{seed}{suffix}")
        preds.append(pred)
    if len(preds) == 2:
        return _pick(_known(exp.model_selection_by.column_known, train, test), preds[0], preds[1])
    return preds[0]


def _frame(ids: pl.Series, pred: np.ndarray, cols: list[str], extra: dict[str, Any] | None = None) -> pl.DataFrame:
    p = pred.reshape(len(pred), -1)
    data: dict[str, Any] = {ids.name: ids}
    data.update(extra or {})
    data.update({c: p[:, i] for i, c in enumerate(cols)})
    return pl.DataFrame(data)


def _score_summary(metric: Metric, data: CompetitionData, res: CVResult) -> dict[str, Any]:
    fold_scores = [s["score"] for s in res.scores]
    valid = ~np.isnan(res.oof.reshape(len(res.oof), -1)).any(axis=1)
    overall = metric(_y(data, data.train)[valid], res.oof[valid])
    return {
        "metric": metric.name,
        "direction": metric.direction,
        "oof": overall,
        "mean": float(np.mean(fold_scores)),
        "std": float(np.std(fold_scores)),
        "folds": res.scores,
        "n_validated": int(valid.sum()),
    }


def _config_hash(resolved: dict, ws: Workspace, folds: Folds) -> str:
    comp = ws.competition.model_dump(mode="json")
    return stable_hash({"experiment": resolved, "competition": comp, "folds": folds.hash})


def train(
    ws: Workspace,
    config_path: Path,
    overrides: list[str] | None = None,
    *,
    resume: str | None = None,
    tracking: bool = True,
    note: str | None = None,
    on_event: Event | None = None,
) -> Run:
    """Run a config's CV on the workspace's folds and write a run folder.

    >>> run = train(Workspace.find(), Path("configs/lgbm.yaml"), ["model.params.learning_rate=0.03"])
    >>> run.id, round(run.cv, 4)
    ('lgbm-002', 0.9904)
    """
    config_path = Path(config_path)
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
    folds = Folds.load(ws.folds_path)
    group = folds.meta.get("group")
    if group and group not in data.train.columns:  # folds grouped by a column this experiment drops
        from medalist.workspace.data import read_table

        keys = read_table(ws.train_path, what="train", columns=[data.id, group])
        folds.check(data.train.join(keys, on=data.id, how="left", maintain_order="left"))
    else:
        folds.check(data.train)  # ids, train hash and group leaks
    # static features now, before a run folder exists: a bad block is an error with nothing written
    plan = build_plan(exp.features, data, source=str(config_path), ws=ws, folds_hash=folds.hash)
    data = apply_static(plan, data)
    if exp.model_selection_by is not None:
        _check_selection(exp, data, plan, config_path)
    config_hash = _config_hash(resolved, ws, folds)

    if resume:
        run = Run.open(ws, resume)
        old = run.info.get("config_hash")
        if old != config_hash:
            raise RunError(
                f"run '{resume}'", expected=f"the same config, data and folds as when it started (hash {old})",
                found=f"hash {config_hash}: the config, competition, train data or folds changed",
                fix="start a new run (drop --resume) or restore the original config",
            )
        if run.status == "done":
            return run
    else:
        rid = new_run_id(ws.runs_dir, exp.name or config_path.stem)
        run = Run(rid, ws.runs_dir / rid)
    run_dir = run.path
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    info: dict[str, Any] = {
        "id": run.id, "status": "running", "created": run.info.get("created", started) if resume else started,
        "model": exp.model.name, "config": str(config_path), "overrides": list(overrides or []),
        "config_hash": config_hash, "folds_hash": folds.hash, "train_hash": folds.meta.get("train_hash"),
        "seeds": exp.seeds, "full_fit": exp.full_fit, "note": note if note is not None else exp.note,
        "task": data.task, "classes": data.classes, "pred_columns": pred_columns(data.task, data.classes, data.target),
    }
    handler = logging.FileHandler(run_dir / "log.txt")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("medalist").addHandler(handler)
    logging.getLogger("medalist").setLevel(logging.INFO)
    t0 = time.perf_counter()
    try:
        if not resume:
            full = {"competition": ws.competition.model_dump(mode="json"), **resolved}
            atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(full, sort_keys=False))
            atomic_write_json(run_dir / "git.json", git_info(ws.root))
        atomic_write_json(run_dir / "run.json", info)
        log.info("run %s: %s on %d rows, %d features, folds %s", run.id, exp.model.name, data.train.height, len(data.features), folds.hash)
        if plan.cache_hits or plan.cache_misses:
            log.info("features: %d static blocks from the feature cache, %d computed", len(plan.cache_hits), len(plan.cache_misses))

        def emit(kind: str, payload: dict[str, Any]) -> None:
            if kind == "fold_done":
                log.info("repeat %s fold %s: %s=%.6f (%.1fs)", payload["repeat"], payload["fold"], metric.name, payload["score"], payload["seconds"])
            if on_event:
                on_event(kind, payload)

        res = run_cv(data, folds, exp, metric, run_dir=run_dir, resume=bool(resume), on_event=emit, features=plan)
        if exp.full_fit:
            emit("full_fit", {})
            res.test = _full_fit(data, exp, metric, res.scores, run_dir, folds, plan)
        cols = info["pred_columns"]
        ids = data.train.get_column(data.id)
        atomic_write_parquet(run_dir / "oof.parquet", _frame(ids, res.oof, cols, {"fold": pl.Series(res.fold_of)}))
        atomic_write_parquet(run_dir / "test.parquet", _frame(data.test.get_column(data.id), res.test, cols))
        if res.importance:
            imp = pl.DataFrame(res.importance).unpivot(index=["repeat", "fold", "seed"], variable_name="feature", value_name="gain")
            imp = imp.group_by("feature").agg(pl.col("gain").mean().alias("gain"), pl.col("gain").std().alias("gain_std")).sort("gain", descending=True)
            atomic_write_parquet(run_dir / "importance.parquet", imp)
        if res.curves:
            atomic_write_parquet(run_dir / "curves.parquet", pl.DataFrame(res.curves))
        atomic_write_json(run_dir / "versions.json", package_versions())  # after the fit: libraries are loaded
        summary = _score_summary(metric, data, res)
        summary["full_fit"] = exp.full_fit
        if exp.model_selection_by is not None:
            summary["model_selection_by"] = {
                "column_known": exp.model_selection_by.column_known,
                **{k: float(np.mean([f[k] for f in res.scores])) for k in
                   ("score_full_model", "score_reduced_model", "valid_known_share", "test_known_share")},
            }
        atomic_write_json(run_dir / "metrics.json", summary)
        info.update(status="done", finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    seconds=round(time.perf_counter() - t0, 2), cv=summary["oof"])
        atomic_write_json(run_dir / "run.json", info)
        log.info("run %s done: OOF %s=%.6f, folds %.6f ± %.6f", run.id, metric.name, summary["oof"], summary["mean"], summary["std"])
    except BaseException as e:
        info.update(status="failed" if not isinstance(e, KeyboardInterrupt) else "interrupted", error=f"{type(e).__name__}: {e}")
        try:
            atomic_write_json(run_dir / "run.json", info)
        except OSError:  # the disk that failed the run may refuse this too; the error below still says why
            pass
        if isinstance(e, OSError):
            where = getattr(e, "filename", None) or str(run_dir)
            raise RunError(
                f"run '{run.id}': writing {where}", expected="a writable run folder with free space",
                found=f"{type(e).__name__}: {e.strerror or e}; no partial file was left (writes are atomic)",
                fix=f"free space or fix permissions, then `medalist train {config_path} --resume {run.id}` (finished folds are kept)",
            ) from e
        raise
    finally:
        logging.getLogger("medalist").removeHandler(handler)
        handler.close()
    if tracking and ws.tracking_uri:
        from medalist.tracking.mlflow import mirror_and_record

        warning = mirror_and_record(ws, run, info)
        if warning and on_event:
            on_event("warning", {"message": warning})
    return run
