"""Re-predict a finished model run on the current test rows of a workspace, from its saved models.

This is what a code-competition notebook runs on the hidden test set, and it follows the runner's
order of operations exactly, so on the workspace's own test rows it returns what ``medalist train``
wrote to ``test.parquet``:

1. the competition's train and test tables are read with the run's column settings;
2. static feature blocks run on train+test stacked (``oof_feature`` reads the upstream run's OOF for
   train rows and its *re-predicted* test predictions for test rows, from the workspace's ``runs/``);
3. per split of the saved folds: per-fold blocks (``target_encode``) are fitted on the split's train
   rows, each seed's saved model predicts the test rows, and under ``model_selection_by`` the reduced
   model's prediction is taken for rows whose key value the split's train rows never had;
4. each split's seed-averaged prediction is mapped back by the split's saved target transform
   (``models/r<repeat>_f<fold>.target.json``) and clipped into the metric's domain recorded in run.json;
5. splits are averaged in the folds' order (or the full-data models are used when the run refit).

>>> ws = Workspace.find()
>>> pred = predict_run(ws.runs_dir / "lgbm-001", ws)
>>> bool(np.allclose(pred, Run.open(ws, "lgbm-001").test()["pred"].to_numpy(), rtol=0, atol=1e-12))
True
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from medalist.core.config import ExperimentConfig
from medalist.core.errors import FoldsError, RunError
from medalist.cv.runner.selection import _known, _pick
from medalist.cv.runner.transform import load_transform
from medalist.features import apply_static, build_plan, fold_labels
from medalist.metrics.registry import Domain
from medalist.models import load_model
from medalist.runs.record import RunRecord
from medalist.runs.store import Run  # noqa: F401  (doctest namespace)
from medalist.workspace.data import CompetitionData, load_competition_data
from medalist.workspace.folds import Folds

__all__ = ["predict_run", "run_experiment", "model_splits"]


def run_experiment(run_dir: Path) -> ExperimentConfig:
    """The experiment config a run was made with (its ``config.yaml`` without the competition)."""
    full = yaml.safe_load((Path(run_dir) / "config.yaml").read_text()) or {}
    return ExperimentConfig.model_validate({k: v for k, v in full.items() if k != "competition"})


def model_splits(run_dir: Path) -> tuple[list[tuple[int, int]], bool]:
    """The (repeat, fold) pairs with saved models under ``models/``, and whether full-data models exist."""
    d = Path(run_dir) / "models"
    names = [p.name for p in d.iterdir() if p.is_dir()] if d.is_dir() else []
    splits = sorted({(int(m[1]), int(m[2])) for n in names if (m := re.match(r"^r(\d+)_f(\d+)_s-?\d+(_unknown)?$", n))})
    full = any(re.match(r"^full_s-?\d+(_unknown)?$", n) for n in names)
    return splits, full


def _seed_mean(run_dir: Path, stem: str, seeds: list[int], frame: pl.DataFrame, shape: tuple[int, ...]) -> np.ndarray:
    """The seed-averaged prediction of the saved models ``<stem>_s<seed>``, summed as the runner sums it."""
    out = np.zeros(shape)
    for seed in seeds:
        out += load_model(run_dir / "models" / f"{stem.format(seed=seed)}").predict(frame) / len(seeds)
    return out


def _finisher(run_dir: Path, rec: RunRecord):
    """``finish(pred, stem)``: the run's saved transform of split ``stem`` inverted, then its domain clip."""
    extra = rec.model_extra or {}
    kind = extra.get("target_transform") or "none"
    domain = Domain(**extra["prediction_domain"]) if extra.get("prediction_domain") else None

    def finish(pred: np.ndarray, stem: str) -> np.ndarray:
        p = load_transform(run_dir, stem, kind, rec.id).inverse(pred)
        return domain.clip(p) if domain is not None else p

    return finish


def _shape(data: CompetitionData, rows: int) -> tuple[int, ...]:
    width = len(data.classes) if data.task in ("multiclass", "distribution") else len(data.target) if data.task == "multilabel" else 0
    return (rows, width) if width else (rows,)


def _load_folds(ws, rec: RunRecord, data: CompetitionData) -> Folds:
    folds = Folds.load(ws.folds_path)
    if rec.folds_hash and folds.hash != rec.folds_hash:
        raise FoldsError(str(ws.folds_path), expected=f"the folds run '{rec.id}' was trained on (hash {rec.folds_hash})",
                         found=f"folds {folds.hash}", fix="package the run with its own folds.parquet")
    group = folds.meta.get("group")
    if not (group and group not in data.train.columns):
        folds.check(data.train)  # the train table must be the one the folds (and the models) were made on
    return folds


def predict_run(run_dir: Path, ws) -> np.ndarray:
    """The test prediction of the model run saved in ``run_dir`` for the test rows of workspace ``ws``.

    ``ws`` needs ``competition``, ``root``, ``train_path``, ``test_path``, ``folds_path`` and ``runs_dir``
    (where the runs of ``oof_feature`` blocks are read, with their test predictions for these rows).
    """
    run_dir = Path(run_dir)
    exp, rec = run_experiment(run_dir), RunRecord.load(run_dir / "run.json")
    if rec.status != "done":
        raise RunError(f"run '{rec.id}'", expected="a finished run", found=f"status '{rec.status}'", fix="finish or retrain it")
    data = load_competition_data(ws, exp.columns, weight=exp.weight)
    plan = build_plan(exp.features, data, source=str(run_dir / "config.yaml"), ws=ws, folds_hash=rec.folds_hash, cache=False)
    data = apply_static(plan, data)
    splits, full = model_splits(run_dir)
    seeds = list(exp.seeds)
    sel = exp.model_selection_by
    finish = _finisher(run_dir, rec)
    needs_folds = plan.per_fold or (sel is not None and not rec.full_fit)
    if needs_folds and not Path(ws.folds_path).is_file():
        raise FoldsError(str(ws.folds_path), expected=f"the folds run '{rec.id}' was trained on (its per-fold blocks and "
                         "model selection are fitted per split)", found="no folds file", fix="copy the workspace's folds.parquet")
    # the folds fix the order splits are averaged in (and check the train table); without them, model names do
    folds = _load_folds(ws, rec, data) if Path(ws.folds_path).is_file() else None
    if rec.full_fit:
        if not full:
            raise RunError(f"run '{rec.id}'", expected="full-data models under models/ (full_s<seed>)", found="none",
                           fix="retrain the run; models are saved by medalist train")
        return _predict_full(run_dir, data, plan, folds, seeds, sel, finish)
    if not splits:
        raise RunError(f"run '{rec.id}'", expected="per-fold models under models/ (r<repeat>_f<fold>_s<seed>)", found="none",
                       fix="retrain the run; models are saved by medalist train")
    te = data.test
    shape = _shape(data, te.height)
    total = np.zeros(shape)
    if folds is None:
        for r, f in splits:
            total += finish(_seed_mean(run_dir, f"r{r}_f{f}_s{{seed}}", seeds, te, shape), f"r{r}_f{f}") / len(splits)
        return total
    inner = fold_labels(folds, data.train) if plan.per_fold else {}
    todo = folds.splits(data.train)
    if sorted((s.repeat, s.fold) for s in todo) != splits:
        raise RunError(f"run '{rec.id}'", expected=f"models for every split of the folds ({len(todo)})",
                       found=f"{len(splits)} saved", fix="retrain the run on these folds")
    for split in todo:
        tr, te_s = data.train[split.train_idx], data.test
        if inner:
            va = data.train[split.valid_idx]
            tr, _, te_s, _ = plan.for_split(tr, va, te_s, inner[split.repeat][split.train_idx])
        stem = f"r{split.repeat}_f{split.fold}_s{{seed}}"
        pt = finish(_seed_mean(run_dir, stem, seeds, te_s, shape), f"r{split.repeat}_f{split.fold}")
        if sel is not None:
            pt_u = finish(_seed_mean(run_dir, stem + "_unknown", seeds, te_s, shape), f"r{split.repeat}_f{split.fold}")
            pt = _pick(_known(sel.column_known, tr, te_s), pt, pt_u)
        total += pt / len(todo)
    return total


def _predict_full(run_dir: Path, data: CompetitionData, plan, folds: Folds | None, seeds: list[int], sel, finish) -> np.ndarray:
    """The full-data refit's prediction (see :mod:`medalist.cv.runner.refit`)."""
    train, test = data.train, data.test
    if plan.per_fold and folds is not None:
        labels = fold_labels(folds, data.train)
        train, _, test, _ = plan.for_split(train, train.clear(), test, labels[min(labels)])
    preds = []
    for suffix in ("", "_unknown") if sel is not None else ("",):
        pred = None
        for seed in seeds:
            p = load_model(run_dir / "models" / f"full_s{seed}{suffix}").predict(test) / len(seeds)
            pred = p if pred is None else pred + p
        preds.append(finish(pred, "full"))
    if len(preds) == 2:
        return _pick(_known(sel.column_known, train, test), preds[0], preds[1])
    return preds[0]
