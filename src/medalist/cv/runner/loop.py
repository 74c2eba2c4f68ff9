"""The fold × seed loop: per fold fit -> predict valid and test -> persist the fold.

The loop only talks to the :class:`~medalist.models.Model` protocol, the saved folds and the run
writer, so GBDTs, sklearn pipelines and image/signal/ranker models go through the same code.
Each fold's predictions are written atomically under ``parts/`` as soon as the fold ends;
``resume=True`` loads them instead of refitting.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medalist.core.config import ExperimentConfig
from medalist.cv.runner.earlystop import StopPlan, first_pass, fit_fold, stop_plan, stop_summary
from medalist.cv.runner.fitting import _context, _model_factory, _y
from medalist.cv.runner.selection import _known, _pick, _reduced_features
from medalist.cv.runner.transform import TargetTransform, finish, save_transform, score_fold, split_transform
from medalist.features import FeaturePlan, fold_labels
from medalist.metrics.registry import Metric
from medalist.runs.writer import RunWriter
from medalist.workspace.data import CompetitionData
from medalist.workspace.folds import Folds

__all__ = ["run_cv", "CVResult", "Event", "epoch_selection", "fit_split", "SplitJob", "SplitResult", "LocalExecutor"]

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
    # models with test-time augmentation: the OOF predicted without it (None: no TTA, or a resumed fold lacks it)
    oof_no_tta: np.ndarray | None = None


_SELECTION_FIELDS = ("select", "split", "criterion", "selected_epoch", "validated_epochs", "fold_best_epoch",
                     "fold_score_selected", "fold_score_fold_best", "optimism")


def epoch_selection(model: Any, seed: int) -> dict[str, Any] | None:
    """The epoch a fitted image/signal model kept, for metrics.json (None for models without epoch selection).

    ``model.selection_`` (what model.json's ``selection`` block holds) without its per-epoch records:
    the rule (``select``: last, best or ema; ``split``: the rows it was chosen on, fold or inner),
    the criterion (metric or loss), the selected epoch, how many epochs were validated and, when an
    inner slice chose, the optimism of choosing on the scoring fold instead.

    >>> class M:
    ...     selection_ = {"select": "best", "on": "inner", "criterion": "metric", "selected_epoch": 2,
    ...                   "epochs": [{}, {}, {}], "optimism": 0.02}
    >>> epoch_selection(M(), 7)
    {'seed': 7, 'select': 'best', 'split': 'inner', 'criterion': 'metric', 'selected_epoch': 2, 'validated_epochs': 3, 'optimism': 0.02}
    """
    sel = getattr(model, "selection_", None)
    if not isinstance(sel, dict):
        return None
    flat = {**sel, "split": sel.get("on"), "validated_epochs": len(sel.get("epochs") or [])}
    return {"seed": seed, **{k: flat[k] for k in _SELECTION_FIELDS if k in flat}}


def _part_paths(run_dir: Path, repeat: int, fold: int) -> tuple[Path, Path, Path]:
    base = run_dir / "parts" / f"r{repeat}_f{fold}"
    return base.with_suffix(".valid.npy"), base.with_suffix(".test.npy"), base.with_suffix(".json")


def _load_part(run_dir: Path, repeat: int, fold: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
    """A finished fold's (valid, test, info) from ``parts/``, or None when any of the three is missing."""
    valid_path, test_path, info_path = _part_paths(run_dir, repeat, fold)
    if not (info_path.is_file() and valid_path.is_file() and test_path.is_file()):
        return None
    return np.load(valid_path), np.load(test_path), json.loads(info_path.read_text())


def _save_part(parts: RunWriter, repeat: int, fold: int, pv: np.ndarray, pt: np.ndarray, info: dict[str, Any]) -> None:
    valid_path, test_path, info_path = _part_paths(parts.path, repeat, fold)
    parts.npy(valid_path, pv)
    parts.npy(test_path, pt)
    parts.json(info_path, info, durable=False)  # --resume refits a fold whose part is lost


@dataclass
class _Split:
    """One split's frames and the shared state its fits write into."""

    data: CompetitionData
    exp: ExperimentConfig
    metric: Metric
    split: Any
    tr: pl.DataFrame
    va: pl.DataFrame
    te: pl.DataFrame
    shape: Callable[[int], tuple[int, ...]]
    res: CVResult
    run_dir: Path | None
    stop: StopPlan = field(default_factory=lambda: StopPlan("off", "native"))
    best: list = field(default_factory=list)
    curves: list = field(default_factory=list)
    stops: list = field(default_factory=list)
    tt: TargetTransform = field(default_factory=TargetTransform)  # fitted on this split's train rows
    clipped: int = 0  # predictions clipped into the metric's domain
    no_tta: np.ndarray | None = None  # valid predictions without test-time augmentation (TTA models only)
    selections: list = field(default_factory=list)  # per seed: the epoch an image/signal model kept

    def fit(self, use: list[str], suffix: str = "") -> tuple[np.ndarray, np.ndarray]:
        """One fresh model per seed on ``use``; the seed-averaged valid and test predictions."""
        make, seeds, split = _model_factory(self.exp), self.exp.seeds, self.split
        pv, pt = np.zeros(self.shape(len(split.valid_idx))), np.zeros(self.shape(self.te.height))
        tr, va = self.tt.frames(self.data.target[0], self.tr, self.va)
        for seed in seeds:
            tag = {"repeat": split.repeat, "fold": split.fold, "seed": seed}
            ctx = _context(self.data, self.exp, self.metric, seed, self.curves, tag, use)
            ctx.inverse_target = self.tt.inverse if self.tt.kind != "none" else None
            model, used = fit_fold(make, tr, va, ctx, self.stop, split.train_idx, (seed, split.repeat, split.fold))
            if not suffix:
                self.stops.append(used)
            pv += model.predict(self.va) / len(seeds)
            if not suffix and getattr(model, "uses_tta", False):  # what TTA is compared against
                self.no_tta = (0 if self.no_tta is None else self.no_tta) + model.predict_without_tta(self.va) / len(seeds)
            pt += model.predict(self.te) / len(seeds)
            self.best.append(getattr(model, "best_iteration", None))
            chosen = epoch_selection(model, seed)
            if chosen is not None and not suffix:
                self.selections.append(chosen)
            imp = model.feature_importance()
            if imp and not suffix:
                self.res.importance.append({**tag, **imp})
            if self.run_dir is not None:
                model.save(self.run_dir / "models" / f"r{split.repeat}_f{split.fold}_s{seed}{suffix}")
        save_transform(self.run_dir, f"r{split.repeat}_f{split.fold}", self.tt)
        (pv, nv), (pt, nt) = finish(pv, self.tt, self.metric), finish(pt, self.tt, self.metric)
        if self.no_tta is not None and not suffix:
            self.no_tta = finish(np.asarray(self.no_tta), self.tt, self.metric)[0]
        self.clipped += nv + nt
        return pv, pt

    def score(self, pred: np.ndarray, what: str = "") -> float:
        """The metric on this split's valid rows (a metric that raises is a RunError naming the fold)."""
        run = f"run '{self.run_dir.name}'" if self.run_dir is not None else "CV"
        where = f"{run} repeat {self.split.repeat} fold {self.split.fold}{what}"
        return score_fold(self.metric, _y(self.data, self.va), pred, where)


def _run_split(s: _Split, cols: list[str], features: FeaturePlan | None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Fit one split (and its reduced model under ``model_selection_by``); predictions and fold info."""
    t0 = time.perf_counter()
    pv, pt = s.fit(cols)
    extra_info: dict[str, Any] = {}
    sel = s.exp.model_selection_by
    if sel is not None:
        pv_u, pt_u = s.fit(_reduced_features(s.exp, features, cols), "_unknown")
        known_v, known_t = _known(sel.column_known, s.tr, s.va), _known(sel.column_known, s.tr, s.te)
        extra_info = {
            "score_full_model": s.score(pv, " (full model)"), "score_reduced_model": s.score(pv_u, " (reduced model)"),
            "valid_known_share": float(known_v.mean()), "test_known_share": float(known_t.mean()),
        }
        pv, pt = _pick(known_v, pv, pv_u), _pick(known_t, pt, pt_u)
    split = s.split
    if s.no_tta is not None and sel is None:
        extra_info["score_no_tta"] = s.score(s.no_tta, " (no TTA)")
    if s.selections:
        extra_info["selection"] = s.selections
    info = {
        "repeat": split.repeat, "fold": split.fold, "score": s.score(pv),
        "best_iterations": s.best, "seconds": round(time.perf_counter() - t0, 3),
        "n_train": len(split.train_idx), "n_valid": len(split.valid_idx), **extra_info,
        "target_transform": s.tt.as_dict(), "clipped_predictions": s.clipped,
        "early_stopping": stop_summary(s.stops),
    }
    s.res.curves.extend(s.curves)
    return pv, pt, info


def _frames(data: CompetitionData, split: Any, features: FeaturePlan | None, inner: dict) -> tuple:
    """One split's (train, valid, test) frames with its per-fold feature blocks, and the feature names."""
    tr, va, te, cols = data.train[split.train_idx], data.train[split.valid_idx], data.test, data.features
    if inner:
        tr, va, te, extra = features.for_split(tr, va, te, inner[split.repeat][split.train_idx])
        cols = [*data.features, *extra]
    return tr, va, te, cols


def _first_pass(data: CompetitionData, exp: ExperimentConfig, metric: Metric, splits: list, features: FeaturePlan | None,
                inner: dict, stop: StopPlan) -> None:
    """``early_stopping.split: none``: every split x seed inner-stopped once; sets ``stop.fixed`` to their mean round."""
    def jobs():  # one split's frames at a time
        for split in splits:
            tr, _, _, cols = _frames(data, split, features, inner)
            tt = split_transform(data, exp, metric, tr)  # the first pass fits what the folds will fit
            (tr,) = tt.frames(data.target[0], tr)
            for seed in exp.seeds:
                ctx = _context(data, exp, metric, seed, [], {}, cols)
                ctx.inverse_target = tt.inverse if tt.kind != "none" else None
                yield tr, split.train_idx, ctx, (seed, split.repeat, split.fold)

    first_pass(_model_factory(exp), jobs(), stop)


def _width(data: CompetitionData) -> int:
    if data.task in ("multiclass", "distribution"):
        return len(data.classes)
    return len(data.target) if data.task == "multilabel" else 0


@dataclass
class SplitJob:
    """What every split's fit shares: sent to a remote executor once (Ray's object store), not per fold."""

    data: CompetitionData
    exp: ExperimentConfig
    metric: Metric
    features: FeaturePlan | None
    inner: dict
    stop: StopPlan
    width: int


@dataclass
class SplitResult:
    """One fitted split: its predictions and fold info, and what the driver merges into the :class:`CVResult`."""

    pv: np.ndarray
    pt: np.ndarray
    info: dict[str, Any]
    importance: list[dict[str, float]]
    curves: list[dict[str, Any]]
    no_tta: np.ndarray | None  # valid predictions without TTA (None: not a TTA model)
    files: dict[str, bytes] = field(default_factory=dict)  # run-folder files a remote task wrote (models, transforms)


def fit_split(job: SplitJob, split: Any, run_dir: Path | None) -> SplitResult:
    """Fit one split (every seed); the task an executor runs per fold. Models are saved under ``run_dir``."""
    shape = (lambda rows: (rows, job.width) if job.width else (rows,))
    tr, va, te, cols = _frames(job.data, split, job.features, job.inner)
    part = CVResult(oof=np.empty(0), test=np.empty(0), fold_of=np.empty(0, dtype=np.int16))
    tt = split_transform(job.data, job.exp, job.metric, tr)
    s = _Split(job.data, job.exp, job.metric, split, tr, va, te, shape, part, run_dir, job.stop, tt=tt)
    try:
        pv, pt, info = _run_split(s, cols, job.features)
    except Exception as e:  # user code (a model, a feature block) failed: say which fold, locally and on Ray
        e.add_note(f"while fitting repeat {split.repeat} fold {split.fold}")
        raise
    plain = s.no_tta if "score_no_tta" in info else None
    return SplitResult(pv, pt, info, part.importance, part.curves, plain)


class LocalExecutor:
    """Fits the splits one after another in this process (the default)."""

    name = "local"

    def run_splits(self, job: SplitJob, todo: list[tuple[int, Any]], run_dir: Path | None):
        """Yield ``(index, SplitResult)`` as each split ends."""
        for i, split in todo:
            yield i, fit_split(job, split, run_dir)


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
    groups: np.ndarray | None = None,
    executor: Any = None,
) -> CVResult:
    """Fit one fresh model per (repeat, fold, seed); return OOF and test predictions.

    With ``run_dir`` each fold is persisted under ``parts/`` when it ends, and ``resume=True``
    loads finished folds instead of refitting them. ``data`` already holds the static features of
    ``features``; its per-fold blocks (target encoding) are computed here from each split's train rows.
    Boosting models early-stop as ``exp.model.early_stopping`` says (:mod:`.earlystop`); ``groups``
    gives each train row's fold group when ``data.train`` lacks the folds' group column.
    ``executor`` runs the folds (:class:`LocalExecutor` by default; :class:`medalist.cv.executor.RayExecutor`
    as Ray tasks); results are merged in fold order, so the predictions do not depend on it.
    """
    emit = on_event or (lambda *_: None)
    splits = folds.splits(data.train)
    n, n_test, width = data.train.height, data.test.height, _width(data)
    shape = (lambda rows: (rows, width) if width else (rows,))
    repeats = sorted({s.repeat for s in splits})
    oof_sum, oof_cnt, test_sum = np.zeros(shape(n)), np.zeros(n), np.zeros(shape(n_test))
    plain_sum, plain_ok = None, True  # OOF without TTA (TTA models), while every fold has it
    fold_of = np.full(n, -1, dtype=np.int16)
    res = CVResult(oof=oof_sum, test=test_sum, fold_of=fold_of)
    inner = fold_labels(folds, data.train) if features is not None and features.per_fold else {}
    parts = RunWriter(run_dir) if run_dir is not None else None
    stop = stop_plan(exp, metric, data, folds, stops_early=getattr(_model_factory(exp)(), "stops_early", False), groups=groups)
    emit("start", {"splits": len(splits), "seeds": len(exp.seeds)})
    outcome: dict[int, tuple[np.ndarray, np.ndarray, dict[str, Any], SplitResult | None]] = {}
    todo = []
    for i, split in enumerate(splits):
        if split.repeat == repeats[0]:
            fold_of[split.valid_idx] = split.fold
        done = _load_part(run_dir, split.repeat, split.fold) if resume and run_dir is not None else None
        if done is not None:
            outcome[i] = (*done, None)
            emit("fold_resumed", done[2])
        else:
            todo.append((i, split))
    if todo and stop.split == "none" and stop.fixed is None:
        _first_pass(data, exp, metric, splits, features, inner, stop)
    job = SplitJob(data, exp, metric, features, inner, stop, width)
    for i, r in (executor or LocalExecutor()).run_splits(job, todo, run_dir):
        split = splits[i]
        if parts is not None:
            _save_part(parts, split.repeat, split.fold, r.pv, r.pt, r.info)
        outcome[i] = (r.pv, r.pt, r.info, r)
        emit("fold_done", r.info)
    for i, split in enumerate(splits):  # fold order: sums (and their bytes) do not depend on the executor
        pv, pt, info, r = outcome[i]
        if r is None:
            plain_ok = False  # a resumed fold kept no predictions without TTA
        else:
            res.importance.extend(r.importance)
            res.curves.extend(r.curves)
            if plain_ok and r.no_tta is not None:
                plain_sum = np.zeros(shape(n)) if plain_sum is None else plain_sum
                plain_sum[split.valid_idx] += r.no_tta
            else:
                plain_ok = False
        res.scores.append(info)
        oof_sum[split.valid_idx] += pv
        oof_cnt[split.valid_idx] += 1
        test_sum += pt / len(splits)
    with np.errstate(invalid="ignore", divide="ignore"):
        res.oof = oof_sum / (oof_cnt.reshape(-1, *([1] * (oof_sum.ndim - 1))))
        if plain_ok and plain_sum is not None:
            res.oof_no_tta = plain_sum / (oof_cnt.reshape(-1, *([1] * (oof_sum.ndim - 1))))
    res.test = test_sum
    return res
