"""What the report reads besides the run folders: a run's features (for train curves) and the encoded target."""

from __future__ import annotations

import polars as pl

from medalist.runs.store import Run

__all__ = ["load_data", "load_truth"]


def load_data(ws, run: Run):
    """The competition data with the run's static features applied, as the run trained on it."""
    from medalist.core.config import ExperimentConfig
    from medalist.features import apply_static, build_plan
    from medalist.workspace.data import load_competition_data

    cfg = {k: v for k, v in run.config.items() if k != "competition"}
    exp = ExperimentConfig.model_validate(cfg)
    data = load_competition_data(ws, exp.columns, weight=exp.weight)
    plan = build_plan(exp.features, data, source=str(run.path / "config.yaml"), ws=None, folds_hash=None)
    return apply_static(plan, data) if not plan.per_fold else data


def load_truth(ws) -> tuple[pl.DataFrame, list | None, str]:
    """id + encoded target (as the runs saw it), the classes and the task."""
    from medalist.workspace.data import load_competition_data

    data = load_competition_data(ws)
    cols = [data.id, *data.target]
    return data.train.select(cols), data.classes, data.task
