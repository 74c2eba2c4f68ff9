"""A fold's polars frame as a model library reads it, without copies the library does not need.

The values every adapter hands over are the features cast to float64, nulls as NaN, and negative
category codes (an encoder's "unknown") as missing: XGBoost rejects negative codes and LightGBM
already treats them as missing, so the libraries agree. How they get there differs:

* :func:`feature_frame`: the frame itself, for a library that reads Arrow (LightGBM 4.7+, XGBoost 2.1+). Columns
  of a dtype in :data:`ARROW_NUMERIC` are the frame's own buffers; the library converts each value
  to double (the same number as a Float64 cast, nulls to NaN), so no float matrix exists at all.
* :func:`float_matrix`: one preallocated numpy matrix filled column by column, so the conversion
  holds the matrix plus one column instead of a float64 copy of the frame plus the matrix.

>>> df = pl.DataFrame({"a": [1, 2], "c": [0, -1]})
>>> float_matrix(df, ["a", "c"], ["c"]).tolist()
[[1.0, 0.0], [2.0, nan]]
>>> feature_frame(df, ["a", "c"], ["c"]).rows()
[(1, 0), (2, None)]
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import polars as pl

__all__ = ["ARROW_NUMERIC", "catboost_reads_frames", "feature_frame", "float_matrix", "lightgbm_reads_frames",
           "xgboost_reads_frames"]

# Column dtypes an Arrow reader takes as they are; other dtypes (dates, decimals) are cast to Float64.
ARROW_NUMERIC = frozenset({pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64,
                           pl.Float32, pl.Float64, pl.Boolean})


def _column(name: str, categorical: bool) -> pl.Expr:
    return pl.when(pl.col(name) >= 0).then(pl.col(name)) if categorical else pl.col(name)


def feature_frame(frame: pl.DataFrame, features: list[str], categorical: list[str],
                  names: list[str] | None = None) -> pl.DataFrame:
    """``frame``'s ``features`` (renamed to ``names`` when given) in Arrow-readable dtypes, sharing its buffers.

    Only categorical columns (negative codes to null) and columns outside :data:`ARROW_NUMERIC`
    (cast to Float64) are new columns.
    """
    cats, schema = set(categorical), frame.schema
    cols = []
    for f, name in zip(features, names or features):
        col = _column(f, f in cats)
        cols.append((col if schema[f] in ARROW_NUMERIC else col.cast(pl.Float64)).alias(name))
    return frame.select(cols)


def float_matrix(frame: pl.DataFrame, features: list[str], categorical: list[str], *,
                 dtype: type = np.float64, order: str = "F") -> np.ndarray:
    """``frame``'s ``features`` as one (rows, features) numpy matrix of ``dtype`` in ``order`` ("C" or "F").

    Each column is cast to Float64 by polars (as ``frame.cast(pl.Float64).to_numpy()`` does, nulls
    to NaN) and written into the matrix, so at most one column exists besides it. ``dtype`` float32
    rounds those float64 values to nearest, as XGBoost does with a float64 matrix.
    """
    cats = set(categorical)
    out = np.empty((frame.height, len(features)), dtype=dtype, order=order)
    for j, f in enumerate(features):
        out[:, j] = frame.select(_column(f, f in cats).cast(pl.Float64)).to_series().to_numpy()
    return out


def lightgbm_reads_frames(lgb: ModuleType) -> bool:
    """Whether this LightGBM takes a polars frame through the Arrow C stream (4.7+); else it gets numpy."""
    return hasattr(lgb.Dataset, "_Dataset__init_from_narwhals")


def xgboost_reads_frames(xgb: ModuleType) -> bool:
    """Whether this XGBoost builds a DMatrix from a polars frame's Arrow columns (2.1+); else it gets numpy."""
    import importlib

    return hasattr(importlib.import_module(f"{xgb.__name__}.data"), "_from_polars_df")


def catboost_reads_frames() -> bool:
    """Whether this CatBoost's ``Pool`` takes a polars frame (1.2.10 does); else it gets a pandas copy."""
    import catboost.core

    return pl.DataFrame in getattr(catboost.core, "ARRAY_TYPES", ())
