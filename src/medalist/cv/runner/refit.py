"""The full-data fit: every train row, the mean best iteration of the folds, one model per seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medalist.core.config import ExperimentConfig
from medalist.cv.runner.fitting import _context, _model_factory
from medalist.cv.runner.selection import _known, _pick, _reduced_features
from medalist.cv.runner.transform import finish, save_transform, split_transform
from medalist.features import FeaturePlan, fold_labels
from medalist.metrics.registry import Metric
from medalist.workspace.data import CompetitionData
from medalist.workspace.folds import Folds

__all__ = ["_full_fit"]


def _full_fit(data: CompetitionData, exp: ExperimentConfig, metric: Metric, scores: list[dict], run_dir: Path | None,
              folds: Folds | None = None, features: FeaturePlan | None = None) -> np.ndarray:
    """Refit on every train row with the mean best iteration; return the test prediction."""
    best = [b for s in scores for b in s.get("best_iterations", []) if b]
    n_iter = int(round(float(np.mean(best)))) if best else None
    make = _model_factory(exp)
    train, test, cols = data.train, data.test, data.features
    if features is not None and features.per_fold and folds is not None:
        # every train row encoded out-of-fold with the saved folds, test from all train rows
        labels = fold_labels(folds, data.train)
        train, _, test, extra = features.for_split(train, train.clear(), test, labels[min(labels)])
        cols = [*cols, *extra]
    tt = split_transform(data, exp, metric, train)  # fitted on every train row
    fit_rows = tt.frames(data.target[0], train)[0]
    save_transform(run_dir, "full", tt)
    variants = [(cols, "")]
    if exp.model_selection_by is not None:
        variants.append((_reduced_features(exp, features, cols), "_unknown"))
    preds = []
    for use, suffix in variants:
        pred = None
        for seed in exp.seeds:
            ctx = _context(data, exp, metric, seed, [], {}, use)
            ctx.num_iterations = n_iter
            ctx.inverse_target = tt.inverse if tt.kind != "none" else None
            model = make().fit(fit_rows, None, ctx)
            p = model.predict(test) / len(exp.seeds)
            pred = p if pred is None else pred + p
            if run_dir is not None:
                model.save(run_dir / "models" / f"full_s{seed}{suffix}")
        preds.append(finish(pred, tt, metric)[0])
    if len(preds) == 2:
        return _pick(_known(exp.model_selection_by.column_known, train, test), preds[0], preds[1])
    return preds[0]
