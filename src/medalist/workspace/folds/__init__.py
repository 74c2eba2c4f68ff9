"""Cross-validation folds as data: made once, hashed, saved to ``folds.parquet``, reused by every run.

Every model, blend and stacker in a competition must see the same folds, or out-of-fold scores
are not comparable and stacking leaks. So folds are a file, not a splitter call repeated in each
script: :func:`make_folds` assigns each row (by id) a fold per repeat with a scikit-learn splitter,
:meth:`Folds.save` writes the assignment with its metadata, and each run records :attr:`Folds.hash`.

The table is long format, one row per (id, repeat): ``<id_col>``, ``repeat``, ``fold`` (-1 = never
validated, e.g. the first block of a time split) and ``order`` (time position, ``time`` scheme only).

>>> import polars as pl
>>> train = pl.DataFrame({"id": range(10), "y": [0, 1] * 5})
>>> folds = make_folds(train, id_col="id", target=["y"], task="binary", scheme="stratified", k=2)
>>> [len(s.valid_idx) for s in folds.splits(train)]
[5, 5]
"""

from __future__ import annotations

from medalist.workspace.folds.build import build_folds
from medalist.workspace.folds.make import make_folds
from medalist.workspace.folds.saved import Folds, Split, train_hash
from medalist.workspace.folds.schemes import SCHEMES
from medalist.workspace.folds.splitter import PredefinedFolds

__all__ = ["SCHEMES", "Split", "Folds", "PredefinedFolds", "make_folds", "train_hash", "build_folds"]
