"""Medalist folds as a scikit-learn cross-validator."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import polars as pl
from sklearn.model_selection import BaseCrossValidator

from medalist.core.errors import DataError
from medalist.workspace.folds.saved import Folds

__all__ = ["PredefinedFolds"]


class PredefinedFolds(BaseCrossValidator):
    """Hand medalist folds to scikit-learn or LightGBM; ``X`` must be in ``train``'s row order.

    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_val_score
    >>> from medalist.workspace.data import read_table
    >>> ws = Workspace.find()
    >>> folds, train = Folds.load(ws.folds_path), read_table(ws.train_path)
    >>> X, y = train.select("mean_radius", "worst_area").to_numpy(), train["target"].to_numpy()
    >>> cross_val_score(LogisticRegression(), X, y, cv=PredefinedFolds(folds, train), scoring="roc_auc").round(3)
    array([0.99 , 0.991, 0.972])
    """

    def __init__(self, folds: Folds, train: pl.DataFrame) -> None:
        self.folds = folds
        self.train = train

    def __repr__(self) -> str:
        return f"PredefinedFolds({self.folds!r})"

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return self.folds.n_splits

    def split(self, X=None, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if X is not None and len(X) != self.train.height:
            raise DataError("X", expected=f"{self.train.height} rows in train's order",
                            found=f"{len(X)} rows", fix="pass the same rows the folds were built for")
        for s in self.folds.splits(self.train):
            yield s.train_idx, s.valid_idx

    def _iter_test_indices(self, X=None, y=None, groups=None):
        for s in self.folds.splits(self.train):
            yield s.valid_idx
