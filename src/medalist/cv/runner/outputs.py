"""A finished CV loop's files: oof/test predictions, importance, curves, versions and metrics.json."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import polars as pl

from medalist.core.config import ExperimentConfig
from medalist.cv.runner.fitting import _y
from medalist.cv.runner.loop import CVResult
from medalist.cv.runner.transform import score_fold
from medalist.metrics.registry import Metric
from medalist.runs.writer import RunWriter
from medalist.workspace.data import CompetitionData

__all__ = ["_frame", "_score_summary", "write_outputs", "tta_summary", "selection_summary"]

log = logging.getLogger("medalist.cv")

_SELECTION_KEYS = ("score_full_model", "score_reduced_model", "valid_known_share", "test_known_share")


def _frame(ids: pl.Series, pred: np.ndarray, cols: list[str], extra: dict[str, Any] | None = None) -> pl.DataFrame:
    p = pred.reshape(len(pred), -1)
    data: dict[str, Any] = {ids.name: ids}
    data.update(extra or {})
    data.update({c: p[:, i] for i, c in enumerate(cols)})
    return pl.DataFrame(data)


def _score_summary(metric: Metric, data: CompetitionData, res: CVResult, where: str = "OOF") -> dict[str, Any]:
    fold_scores = [s["score"] for s in res.scores]
    valid = ~np.isnan(res.oof.reshape(len(res.oof), -1)).any(axis=1)
    overall = score_fold(metric, _y(data, data.train)[valid], res.oof[valid], where)
    return {
        "metric": metric.name,
        "direction": metric.direction,
        "oof": overall,
        "mean": float(np.mean(fold_scores)),
        "std": float(np.std(fold_scores)),
        "folds": res.scores,
        "n_validated": int(valid.sum()),
    }


def write_outputs(w: RunWriter, data: CompetitionData, exp: ExperimentConfig, metric: Metric, res: CVResult,
                  cols: list[str]) -> dict[str, Any]:
    """Write every artifact of the run except run.json; return metrics.json's contents."""
    ids = data.train.get_column(data.id)
    w.parquet("oof.parquet", _frame(ids, res.oof, cols, {"fold": pl.Series(res.fold_of)}))
    w.parquet("test.parquet", _frame(data.test.get_column(data.id), res.test, cols))
    if res.importance:
        imp = pl.DataFrame(res.importance).unpivot(index=["repeat", "fold", "seed"], variable_name="feature", value_name="gain")
        imp = imp.group_by("feature").agg(pl.col("gain").mean().alias("gain"), pl.col("gain").std().alias("gain_std")).sort("gain", descending=True)
        w.parquet("importance.parquet", imp)
    if res.curves:
        w.parquet("curves.parquet", pl.DataFrame(res.curves))
    w.versions()  # after the fit: the libraries it names are loaded
    summary = _score_summary(metric, data, res, f"run '{w.id}' OOF")
    summary["full_fit"] = exp.full_fit
    if exp.model_selection_by is not None:
        summary["model_selection_by"] = {
            "column_known": exp.model_selection_by.column_known,
            **{k: float(np.mean([f[k] for f in res.scores])) for k in _SELECTION_KEYS},
        }
    chosen = selection_summary(res.scores)
    if chosen is not None:
        summary["selection"] = chosen
    tta = tta_summary(metric, data, res, summary["oof"], f"run '{w.id}' OOF without TTA")
    if tta is not None:
        summary["tta"] = tta
    w.json("metrics.json", summary)
    return summary


def tta_summary(metric: Metric, data: CompetitionData, res: CVResult, oof_tta: float, where: str) -> dict[str, Any] | None:
    """TTA against no TTA on the same models (None: the model used no TTA): the OOF score both ways
    (when every fold has both) and the mean fold score both ways; a warning when TTA made it worse."""
    folds = [s for s in res.scores if "score_no_tta" in s]
    if not folds:
        return None
    out: dict[str, Any] = {"folds_mean_tta": float(np.mean([s["score"] for s in folds])),
                           "folds_mean_no_tta": float(np.mean([s["score_no_tta"] for s in folds])),
                           "oof_tta": None, "oof_no_tta": None}
    a, b = out["folds_mean_tta"], out["folds_mean_no_tta"]
    if res.oof_no_tta is not None:
        plain = res.oof_no_tta
        valid = ~np.isnan(plain.reshape(len(plain), -1)).any(axis=1)
        out["oof_tta"], out["oof_no_tta"] = oof_tta, score_fold(metric, _y(data, data.train)[valid], plain[valid], where)
        a, b = out["oof_tta"], out["oof_no_tta"]
    out["tta_worse"] = bool(metric.better(b, a))
    if out["tta_worse"]:
        log.warning("test-time augmentation made the %s %s worse: %.6g with TTA vs %.6g without; turn model.params.tta "
                    "off or use only the flips the data is invariant to", "OOF" if res.oof_no_tta is not None else "mean fold",
                    metric.name, a, b)
    return out


def selection_summary(folds: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The epoch selection of the folds' image/signal models (None: no fold selected epochs): the rule
    (``select``, ``split``), the selected epoch of each (fold, seed) in fold order, and the mean optimism
    of choosing on the scoring fold over the fits that measured it (None when none did).

    >>> selection_summary([{"selection": [{"select": "best", "split": "inner", "selected_epoch": 3, "optimism": 0.01}]},
    ...                    {"selection": [{"select": "best", "split": "inner", "selected_epoch": 5, "optimism": 0.03}]}])
    {'select': 'best', 'split': 'inner', 'selected_epochs': [3, 5], 'optimism_mean': 0.02}
    """
    fits = [x for f in folds for x in f.get("selection") or []]
    if not fits:
        return None
    optimism = [float(x["optimism"]) for x in fits if x.get("optimism") is not None]
    rule = {k: "/".join(sorted({str(x.get(k)) for x in fits})) for k in ("select", "split")}
    return {**rule, "selected_epochs": [x.get("selected_epoch") for x in fits],
            "optimism_mean": round(float(np.mean(optimism)), 6) if optimism else None}
