"""How a stack ``--with-features`` turned raw feature columns into numbers, saved so new test rows get the same.

The workspace encodes string columns as codes (train's values sorted, then values only test has) and
casts test columns to train's dtype (:func:`medalist.workspace.data.prepare`). A stack saves that
recipe (``feature_encoding``) and :func:`encode_features` applies it to a raw test table: the same
codes for values it saw, missing (then imputed like any missing value) for values it never saw.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import DataError, did_you_mean
from medalist.models.protocol import to_numpy
from medalist.workspace.data import scan_table

__all__ = ["encode_features", "feature_encoding"]

_PARAMS = ("time_unit", "time_zone", "precision", "scale")


def _dtype_json(dt: pl.DataType) -> dict[str, Any]:
    out: dict[str, Any] = {"name": dt.base_type().__name__}
    out.update({k: getattr(dt, k) for k in _PARAMS if getattr(dt, k, None) is not None})
    return out


def _dtype(spec: dict[str, Any]) -> pl.DataType:
    cls = getattr(pl, spec["name"])
    params = {k: v for k, v in spec.items() if k != "name"}
    return cls(**params) if params else cls


def feature_encoding(ws, data) -> dict[str, Any]:
    """The recipe of ``data.features``: category codes, or train's raw dtype (read from the train file's header)."""
    schema = scan_table(ws.train_path, what="train").collect_schema()
    cols: dict[str, Any] = {}
    for c in data.features:
        dt = schema[c]
        if c in data.categories:
            cols[c] = {"kind": "category", "values": list(data.categories[c])}
        elif dt == pl.Boolean:
            cols[c] = {"kind": "bool"}
        elif dt.is_temporal():
            cols[c] = {"kind": "temporal", "dtype": _dtype_json(dt)}
        else:
            cols[c] = {"kind": "numeric", "dtype": _dtype_json(dt)}
    return {"features": list(data.features), "columns": cols}


def _encode(c: str, s: pl.Series, spec: dict[str, Any], where: str) -> pl.Series:
    kind = spec["kind"]
    if kind == "category":
        vals = spec["values"]
        lut = pl.DataFrame({"v": vals, "code": np.arange(len(vals), dtype=np.int32)}, schema={"v": pl.String, "code": pl.Int32})
        return pl.DataFrame({"v": s.cast(pl.String)}).join(lut, on="v", how="left", maintain_order="left").get_column("code").alias(c)
    if kind == "bool":
        return s.cast(pl.Int8, strict=False)
    dt = _dtype(spec["dtype"])
    if kind == "temporal":
        return s.cast(dt, strict=False).to_physical().cast(pl.Int64)
    try:
        return s.cast(dt, strict=True)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
        raise DataError(f"{where}: feature '{c}'", expected=f"values castable to train's dtype {dt}", found=f"dtype {s.dtype}",
                        fix="fix the test table") from None


def encode_features(test: pl.DataFrame, enc: dict[str, Any], *, where: str = "test") -> np.ndarray:
    """The (n, features) float matrix of a raw ``test`` table, encoded by ``enc`` (see :func:`feature_encoding`).

    >>> enc = {"features": ["sex", "age"], "columns": {"sex": {"kind": "category", "values": ["f", "m"]},
    ...        "age": {"kind": "numeric", "dtype": {"name": "Int64"}}}}
    >>> encode_features(pl.DataFrame({"age": [30, 41], "sex": ["m", "x"]}), enc)
    array([[ 1., 30.],
           [nan, 41.]])
    """
    feats = list(enc["features"])
    for c in feats:
        if c not in test.columns:
            raise DataError(f"{where}: feature '{c}'", expected="every feature column the stack was fitted on",
                            found=f"no such column{did_you_mean(c, test.columns)}", fix="pass the competition's test table")
    frame = pl.DataFrame([_encode(c, test.get_column(c), enc["columns"][c], where) for c in feats])
    return to_numpy(frame, feats)
