"""``model_selection_by``: a full model for rows whose key value was seen in training, a reduced one
(without that column and the features made from it) for rows whose value is new."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from medalist.core.config import ExperimentConfig
from medalist.core.errors import ConfigError, did_you_mean
from medalist.features import FeaturePlan
from medalist.workspace.data import CompetitionData

__all__ = ["_reduced_features", "_check_selection", "_known", "_pick"]


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
