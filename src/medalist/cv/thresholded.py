"""A run's OOF/test cut into labels at nested cut-points, written as a new run.

``medalist postprocess thresholds RUN --metric qwk`` fits ordinal cut-points (or one binary threshold
for f1/mcc/dice) on RUN's OOF predictions with :func:`medalist.postprocess.ordinal.nested_cutpoints`
and writes a run whose OOF holds, per row, the label from cut-points fitted on the OTHER folds (so its
CV is the nested one) and whose test holds the labels from the cut-points fitted on every OOF row.
``metrics.json`` has the nested CV as ``oof``, the in-sample and rounding scores beside it, and the
cut-points; ``models/cutpoints.json`` keeps the cut-points and labels.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import ConfigError, RunError
from medalist.core.provenance import stable_hash
from medalist.postprocess.ordinal import CutpointResult, apply_cutpoints, nested_cutpoints, threshold_metric
from medalist.runs.store import Run
from medalist.runs.writer import RunWriter

__all__ = ["threshold_run"]


def _oof_and_target(ws, run: Run) -> tuple[pl.DataFrame, str, str]:
    from medalist.workspace.subsets import load_targets

    cols = run.record.pred_columns or ["pred"]
    if len(cols) != 1:
        raise ConfigError(f"run '{run.id}'", expected="one prediction column (regression or binary)",
                          found=f"columns {cols}", fix="threshold a regression or binary run")
    data = load_targets(ws)  # id and target only: train-only or list columns cannot stop it
    pred, target = cols[0], data.target[0]
    oof = run.oof().filter(pl.col(pred).is_not_nan())
    joined = oof.join(data.train.select(data.id, target), on=data.id, how="inner")
    return joined, pred, target


def _fold_scores(fn, y: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> list[dict[str, Any]]:
    return [{"repeat": 0, "fold": int(f), "score": float(fn(y[folds == f], labels[folds == f])),
             "n_valid": int((folds == f).sum()), "seconds": 0.0} for f in np.unique(folds)]


def threshold_run(ws, run_id: str, *, metric: str = "qwk", note: str = "", tracking: bool = False,
                  **fit: Any) -> tuple[Run, CutpointResult]:
    """Write ``thresholds-NNN``: ``run_id``'s predictions cut at nested cut-points under ``metric``.

    ``fit`` goes to :func:`medalist.postprocess.ordinal.fit_cutpoints`. Returns the new run and the
    :class:`CutpointResult` (nested, in-sample and rounding scores; cut-points per fold and overall).
    """
    t0 = time.perf_counter()
    src = Run.open(ws, run_id)
    if src.status != "done":
        raise RunError(f"run '{run_id}'", expected="a finished run", found=f"status '{src.status}'")
    name, fn, gib = threshold_metric(metric)
    joined, pred, target = _oof_and_target(ws, src)
    y = joined[target].to_numpy()
    folds = joined["fold"].to_numpy()
    res = nested_cutpoints(y, joined[pred].to_numpy(), folds, fn, **fit)
    res.metric = name
    labels = np.asarray(res.labels)
    test = src.test()
    test_labels = apply_cutpoints(test[pred].to_numpy(), res.cutpoints, labels)
    id_col = test.columns[0]
    folds_scores = _fold_scores(fn, y, res.nested_labels, folds)
    scores = [f["score"] for f in folds_scores]
    summary = {"metric": name, "direction": "maximize" if gib else "minimize", "oof": res.nested_score,
               "mean": float(np.mean(scores)), "std": float(np.std(scores)), "folds": folds_scores,
               "n_validated": len(y), "cv_nested": res.nested_score, "cv_in_sample": res.in_sample_score,
               "cv_rounding": res.rounding_score, "cutpoints": res.cutpoints,
               "fold_cutpoints": {str(k): v for k, v in res.fold_cutpoints.items()}, "source": run_id}
    rec = src.record
    spec = {"kind": "thresholds", "source": run_id, "metric": name, "cutpoints": res.cutpoints, "labels": res.labels}
    w = RunWriter.create(
        ws.runs_dir, "thresholds", model=f"thresholds:{name}", config=None, overrides=[], members=[run_id],
        config_hash=stable_hash({"thresholds": spec, "folds": rec.folds_hash}), folds_hash=rec.folds_hash,
        train_hash=rec.train_hash, seeds=[], full_fit=rec.full_fit, note=note or f"{name} cut-points of {run_id}",
        task=rec.task, classes=rec.classes, pred_columns=[pred],
    )
    with w.recording():
        w.yaml("config.yaml", {"competition": ws.competition.model_dump(mode="json"), "postprocess": spec})
        w.provenance(ws.root)
        w.parquet("oof.parquet", pl.DataFrame({id_col: joined[id_col], "fold": joined["fold"],
                                               pred: res.nested_labels.astype(float)}))
        w.parquet("test.parquet", pl.DataFrame({id_col: test[id_col], pred: test_labels.astype(float)}))
        w.json("metrics.json", summary)
        w.json("models/cutpoints.json", {**spec, "fold_cutpoints": summary["fold_cutpoints"]})
        w.finish(seconds=round(time.perf_counter() - t0, 3), cv=res.nested_score)
    if tracking:
        w.mirror(ws)
    return w.run, res
