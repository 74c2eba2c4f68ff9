"""Fold assignment per scheme: which fold each train row is validated in, for one repeat.

``kfold``, ``stratified`` (regression targets binned), ``group`` and ``stratified-group`` (a group
stays in one fold), ``multilabel`` (iterative stratification) and ``time`` (TimeSeriesSplit blocks
over time-sorted rows, ties kept together; ``gap`` in rows or as a time span such as ``7d``).
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import polars as pl
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    TimeSeriesSplit,
)

from medalist.core.errors import ConfigError, DataError, did_you_mean

__all__ = ["SCHEMES", "TASKS", "GROUP_SCHEMES", "need_column", "parse_gap", "time_blocks", "assign"]

SCHEMES = ("kfold", "stratified", "group", "stratified-group", "time", "multilabel")
TASKS = ("binary", "multiclass", "regression", "multilabel", "distribution")
GROUP_SCHEMES = ("group", "stratified-group")


def need_column(train: pl.DataFrame, col: str, role: str) -> None:
    if col not in train.columns:
        raise DataError(
            f"{role} column '{col}'",
            expected="a column of the train data",
            found=f"no such column{did_you_mean(col, train.columns)} among {', '.join(train.columns[:20])}",
            fix=f"pass an existing column as {role}",
        )


def _check_k(k: object, upper: int, what: str) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= upper:
        raise ConfigError(
            "k (number of folds)",
            expected=f"an integer between 2 and {upper} ({what})", found=repr(k),
            fix=f"use a k between 2 and {upper}" if upper >= 2 else f"{what} is {upper}: use more data",
        )


def _strat_labels(train: pl.DataFrame, target: list[str], task: str) -> np.ndarray:
    """Class labels to stratify on; a regression target is cut into ~10 quantile bins, a distribution
    target (one column per class) stratifies on each row's majority class."""
    if task == "distribution":
        return train.select(target).to_numpy().astype(np.float64).argmax(axis=1)
    if len(target) != 1 or task == "multilabel":
        raise ConfigError(
            "scheme 'stratified'",
            expected="a single target column",
            found=f"{len(target)} target columns ({task})",
            fix="use scheme 'multilabel' for several binary targets",
        )
    s = train.get_column(target[0])
    n_bad = s.null_count() + (int(s.is_nan().sum()) if s.dtype.is_float() else 0)
    if n_bad:
        raise DataError(
            f"target column '{target[0]}'",
            expected="no missing values to stratify on",
            found=f"{n_bad} null/NaN values",
            fix="drop or fill those rows, or use scheme 'kfold'",
        )
    y = s.to_numpy()
    if task == "regression":
        edges = np.unique(np.quantile(y.astype(np.float64), np.linspace(0, 1, 11)[1:-1]))
        return np.searchsorted(edges, y, side="right")
    return np.unique(y, return_inverse=True)[1]


def _group_labels(train: pl.DataFrame, group: str | None, scheme: str) -> np.ndarray:
    if group is None:
        raise ConfigError(
            f"scheme '{scheme}'", expected="a group column", found="group=None",
            fix="pass --group <column> (rows sharing a value stay in one fold)",
        )
    need_column(train, group, "group")
    s = train.get_column(group)
    if s.null_count():
        raise DataError(f"group column '{group}'", expected="no missing values",
                        found=f"{s.null_count()} nulls", fix="fill them with a unique value per row")
    return np.unique(s.to_numpy(), return_inverse=True)[1]


_DURATION = re.compile(r"^(\d+(ns|us|ms|s|m|h|d|w|mo|q|y))+$")


def parse_gap(gap: int | str) -> tuple[int, str | None]:
    """``gap`` as (rows, duration): an int (or digits) counts rows; a polars duration string (``7d``,
    ``12h``, ``30m``, ``1mo``) is time: train rows must be at least that long before the validation block.

    >>> parse_gap(50), parse_gap("7d"), parse_gap("12")
    ((50, None), (0, '7d'), (12, None))
    """
    if isinstance(gap, str):
        g = gap.strip()
        if g.isdigit():
            return int(g), None
        if _DURATION.match(g):
            return 0, g
        raise ConfigError("gap", expected="rows (an int >= 0) or a time span such as 7d, 12h, 30m (polars duration)",
                          found=repr(gap), fix="use e.g. gap: 7d or gap: 100")
    if isinstance(gap, bool) or not isinstance(gap, int) or gap < 0:
        raise ConfigError("gap", expected="an int >= 0 (rows) or a time span such as 7d", found=repr(gap), fix="use gap=0 or more")
    return gap, None


def _train_ends(t: pl.Series, starts: list[int], span: str, time: str) -> list[int]:
    """Per block: how many time-sorted rows lie at least ``span`` before the block's first time value
    (a date/datetime column, or ISO timestamp strings as read from a CSV)."""
    if t.dtype == pl.String:  # ISO timestamps read from a CSV
        try:
            t = t.str.to_datetime(time_zone=None, strict=True)
        except (pl.exceptions.ComputeError, pl.exceptions.InvalidOperationError):
            pass
        if t.dtype.is_temporal() and getattr(t.dtype, "time_zone", None):
            t = t.dt.replace_time_zone(None)
    if not t.dtype.is_temporal():
        raise ConfigError(f"gap {span!r}", expected=f"a date/datetime time column for a time span (column '{time}')",
                          found=f"dtype {t.dtype}", fix="use a gap in rows (an int) or parse the column as a date")
    firsts = t.gather(starts)
    cut = firsts.dt.offset_by(f"-{span}") if t.dtype != pl.Date else firsts.cast(pl.Datetime("us")).dt.offset_by(f"-{span}")
    tt = t.cast(pl.Datetime("us")) if t.dtype == pl.Date else t
    vals = tt.to_physical().to_numpy()
    return [int(np.searchsorted(vals, c, side="right")) for c in cut.cast(tt.dtype).to_physical().to_numpy()]


def time_blocks(train: pl.DataFrame, time: str | None, k: int, gap: int | str,
                ends: dict[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(fold, order) per train row: TimeSeriesSplit blocks over time-sorted rows, -1 for the first block.

    A time-span ``gap`` (``7d``) fills ``ends`` (when given) with, per fold, the number of time-sorted
    rows its models may train on: those at least that long before the fold's first time value.
    """
    if time is None:
        raise ConfigError("scheme 'time'", expected="a time column", found="time=None",
                          fix="pass --time <column>")
    need_column(train, time, "time")
    n = train.height
    if train.get_column(time).null_count():
        raise DataError(f"time column '{time}'", expected="no missing values",
                        found=f"{train.get_column(time).null_count()} nulls", fix="drop or fill those rows")
    _check_k(k, n - 1, "n_rows-1")
    gap, span = parse_gap(gap)
    rows = pl.int_range(pl.len(), dtype=pl.Int64)
    by_time = train.select(rows.sort_by(time, maintain_order=True)).to_series()
    try:
        starts = [int(v[0]) for _, v in TimeSeriesSplit(n_splits=k, gap=gap).split(np.empty(n))]
    except ValueError as e:
        raise ConfigError("k/gap", detail=str(e).rstrip("."), fix="lower k or gap") from None
    # Rows sharing a timestamp must not straddle train and valid, so each block start snaps to
    # the nearest change of the time value.
    t = train.get_column(time).gather(by_time)
    bounds = np.flatnonzero(t.ne_missing(t.shift(1)).to_numpy())
    snapped = []
    for s in starts:
        i = np.searchsorted(bounds, s, side="right")
        back, fwd = bounds[i - 1], (bounds[i] if i < len(bounds) else n)
        snapped.append(int(back if s - back <= fwd - s or fwd == n else fwd))
    if snapped[0] - gap <= 0 or any(b <= a for a, b in zip(snapped, snapped[1:])):
        raise DataError(f"time column '{time}'",
                        expected=f"enough distinct values for k={k} blocks (ties stay in one block)",
                        found=f"{len(bounds)} distinct values", fix="lower k or gap")
    if span is not None:
        got = _train_ends(t, snapped, span, time)
        if got[0] <= 0:
            raise DataError(f"time column '{time}'", expected=f"rows at least {span} before the first validation block",
                            found=f"none before {t[snapped[0]]}", fix="lower k or the gap")
        if ends is not None:
            ends.update(enumerate(got))
    fold_sorted = np.searchsorted(np.asarray(snapped), np.arange(n), side="right") - 1
    fold, order = np.empty(n, np.int16), np.empty(n, np.int64)
    fold[by_time.to_numpy()] = fold_sorted
    order[by_time.to_numpy()] = np.arange(n)
    return fold, order


def assign(train, *, target, task, scheme, k, group, seed) -> np.ndarray:
    """Fold (0..k-1) per row for one repeat of a non-time scheme."""
    n, X = train.height, np.empty((train.height, 1))
    if scheme in GROUP_SCHEMES:
        groups = _group_labels(train, group, scheme)
        _check_k(k, int(groups.max()) + 1, "n_groups")
        if scheme == "stratified-group":
            y = _strat_labels(train, target, task)
            it = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(X, y, groups)
        elif "shuffle" in inspect.signature(GroupKFold).parameters:  # scikit-learn >= 1.6
            it = GroupKFold(n_splits=k, shuffle=True, random_state=seed).split(X, groups=groups)
        else:  # older GroupKFold is deterministic; relabelling groups at random varies tie-breaking
            perm = np.random.default_rng(seed).permutation(int(groups.max()) + 1)
            it = GroupKFold(n_splits=k).split(X, groups=perm[groups])
    else:
        _check_k(k, n, "n_rows")
        if scheme == "kfold":
            it = KFold(n_splits=k, shuffle=True, random_state=seed).split(X)
        elif scheme == "stratified":
            y = _strat_labels(train, target, task)
            it = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(X, y)
        else:
            from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

            Y = train.select(target).to_numpy()
            if not np.isin(Y, (0, 1)).all():
                raise DataError(f"target columns {target}", expected="0/1 labels for scheme 'multilabel'",
                                found="other values (or nulls)", fix="binarise the labels or use 'kfold'")
            it = MultilabelStratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(X, Y)
    fold = np.full(n, -1, np.int16)
    try:
        for f, (_, valid) in enumerate(it):
            fold[valid] = f
    except ValueError as e:  # e.g. every class smaller than k
        raise ConfigError(f"scheme '{scheme}' with k={k}", detail=str(e).rstrip("."),
                          fix="lower k or use scheme 'kfold'") from None
    return fold


