"""A run's CV under the workspace's current metric.

A run's ``cv`` is the score of its OOF predictions under the metric medalist.yaml named when it was
trained (run.json ``metric``). When ``competition.metric`` changes afterwards that number is stale:
:func:`current_cv` re-scores the saved OOF predictions with the current metric instead (the OOF does
not depend on the metric unless the model early-stopped on it), or says why it cannot.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from medalist.metrics.registry import Metric, get_metric
from medalist.runs.store import Run
from medalist.workspace.data import target_array
from medalist.workspace.subsets import load_targets

__all__ = ["current_cv", "current_metric_name"]


def current_metric_name(ws) -> str | None:
    """The name of medalist.yaml's metric as runs record it (None when it does not resolve)."""
    try:
        return get_metric(ws.competition.metric).name
    except Exception:  # noqa: BLE001 - an unresolvable metric is reported by the commands that use it
        return None


def _oof_score(ws, run: Run, metric: Metric) -> float:
    """``metric`` of the run's OOF predictions on the rows it validated."""
    data = load_targets(ws)
    cols = list(run.record.pred_columns or ["pred"])
    ids = data.train.get_column(data.id)
    oof = run.oof().select(pl.col(data.id).cast(ids.dtype, strict=False), *cols)
    joined = pl.DataFrame({data.id: ids}).join(oof, on=data.id, how="left", maintain_order="left")
    pred = joined.select(pl.col(cols).cast(pl.Float64)).to_numpy()
    rows = ~np.isnan(pred).any(axis=1)
    if not rows.any():
        raise ValueError("no OOF prediction matches a train id")
    y = target_array(data.task, data.target, data.train)[rows]
    p = pred[rows]
    if p.shape[1] == 1 and data.task != "multilabel":
        p = p[:, 0]
    return float(metric(y, p))


def current_cv(ws, run: Run, metric: Metric | None = None) -> dict[str, Any]:
    """``{"cv", "metric", "scored_with", "stale", "rescored", "reason"}`` of ``run`` under ``metric``
    (default: medalist.yaml's).

    Not stale: ``cv`` is the run's own. Stale: ``cv`` is the OOF re-scored with the current metric
    (``rescored`` True), or None with the ``reason`` it could not be (no OOF ids/targets to score, a
    recommender run, a metric that refuses the predictions).
    """
    metric = metric or get_metric(ws.competition.metric)
    used = run.scored_with
    out: dict[str, Any] = {"cv": run.cv, "metric": metric.name, "scored_with": used, "stale": False,
                           "rescored": False, "reason": None}
    if used is None or used == metric.name:
        return out
    out.update(stale=True, cv=None)
    if run.record.task in (None, "recsys"):
        out["reason"] = f"a {run.record.task or 'task-less'} run cannot be re-scored from its OOF"
        return out
    try:
        out.update(cv=_oof_score(ws, run, metric), rescored=True)
    except Exception as e:  # noqa: BLE001 - the old CV is stale either way; say why it was not re-scored
        out["reason"] = f"{type(e).__name__}: {e}"
    return out
