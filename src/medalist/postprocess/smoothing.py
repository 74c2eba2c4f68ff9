"""Per-video moving average / median / max of per-frame predictions."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from medalist.core.errors import (
    ConfigError,
    DataError,
    did_you_mean,
)

__all__ = ["smooth_temporal"]


_SMOOTH = ("mean", "median", "max")


def smooth_temporal(frame: pl.DataFrame, cols: str | Sequence[str], *, by: str, order: str, window: int = 5,
                    center: bool = True, method: str = "mean") -> pl.DataFrame:
    """Smooth per-frame predictions over neighbouring frames of the same video.

    Rows are ordered by ``order`` within each ``by`` group; each value of ``cols`` becomes the
    ``method`` (mean, median, max) over a ``window`` of frames, centred (``center=True``, window
    odd) or trailing (only past frames: what a streaming model can use). Windows shrink at the
    ends of a video instead of padding. Row order of the input is kept.

    >>> df = pl.DataFrame({"v": [0] * 5, "f": range(5), "p": [0.0, 0, 1, 0, 0]})
    >>> smooth_temporal(df, "p", by="v", order="f", window=3)["p"].round(3).to_list()
    [0.0, 0.333, 0.333, 0.333, 0.0]
    """
    cols = [cols] if isinstance(cols, str) else list(cols)
    for c in [by, order, *cols]:
        if c not in frame.columns:
            raise DataError(f"smooth_temporal column '{c}'", expected="a column of the frame",
                            found=f"columns {frame.columns[:12]}{did_you_mean(c, frame.columns)}")
    if method not in _SMOOTH:
        raise ConfigError("smooth_temporal method", expected="one of " + ", ".join(_SMOOTH), found=f"'{method}'{did_you_mean(method, _SMOOTH)}")
    if not isinstance(window, int) or window < 1 or (center and window % 2 == 0):
        raise ConfigError("smooth_temporal window", expected="a positive integer (odd when centred)", found=repr(window),
                          fix=f"use window={window + 1 if isinstance(window, int) and window > 0 else 5}")
    dup = frame.select(pl.struct(by, order).is_duplicated().any()).item()
    if dup:
        raise DataError(f"smooth_temporal ({by}, {order})", expected="one row per frame of each video", found="duplicate frames",
                        fix="aggregate duplicate frames first")
    roll = {"mean": "rolling_mean", "median": "rolling_median", "max": "rolling_max"}[method]
    exprs = [getattr(pl.col(c).cast(pl.Float64), roll)(window_size=window, min_samples=1, center=center).over(by).alias(c) for c in cols]
    return (frame.with_row_index("__row").sort([by, order]).with_columns(exprs).sort("__row").drop("__row"))
