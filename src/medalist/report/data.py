"""What the report reads besides the run folders: a run's features (for train curves) and the encoded target.

The target is read with :func:`medalist.workspace.subsets.load_targets` (id, target, group and time
columns only), so a train-only auxiliary column or a Parquet list column in the competition tables
does not stop the report's diagnostics. A run's features are read only for GBDT runs whose train
curve is recomputed, with the run's own column settings (what it trained on).
"""

from __future__ import annotations

import polars as pl

from medalist.runs.store import Run

__all__ = ["load_data", "load_truth"]


def load_data(ws, run: Run):
    """The competition data with the run's static features applied, as the run trained on it, less the
    columns test lacks and nested ones (:func:`~medalist.workspace.subsets.comparable_columns`)."""
    from medalist.core.config import ExperimentConfig
    from medalist.features import apply_static, build_plan
    from medalist.workspace.data import load_competition_data
    from medalist.workspace.subsets import comparable_columns

    cfg = {k: v for k, v in run.config.items() if k != "competition"}
    exp = ExperimentConfig.model_validate(cfg)
    # a GBDT cannot have used columns test lacks or nested (list) values: leave them unread
    columns, _ = comparable_columns(ws, exp.columns, weight=exp.weight)
    data = load_competition_data(ws, columns, weight=exp.weight)
    plan = build_plan(exp.features, data, source=str(run.path / "config.yaml"), ws=None, folds_hash=None)
    return apply_static(plan, data) if not plan.per_fold else data


def load_truth(ws) -> tuple[pl.DataFrame, list | None, str]:
    """id + encoded target (as the runs saw it), the classes and the task; reads no feature column."""
    from medalist.workspace.subsets import load_targets

    data = load_targets(ws)
    cols = [data.id, *data.target]
    return data.train.select(cols), data.classes, data.task
