"""Fold assignment per scheme: which fold each train row is validated in, for one repeat.

``kfold``, ``stratified`` (regression targets binned), ``group`` and ``stratified-group`` (a group
stays in one fold), ``multilabel`` (iterative stratification) and ``time`` (TimeSeriesSplit blocks
over time-sorted rows, ties kept together).
"""

from __future__ import annotations

import inspect

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

__all__ = ["SCHEMES", "TASKS", "GROUP_SCHEMES", "need_column", "time_blocks", "assign"]

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


def time_blocks(train: pl.DataFrame, time: str | None, k: int, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """(fold, order) per train row: TimeSeriesSplit blocks over time-sorted rows, -1 for the first block."""
    if time is None:
        raise ConfigError("scheme 'time'", expected="a time column", found="time=None",
                          fix="pass --time <column>")
    need_column(train, time, "time")
    n = train.height
    if train.get_column(time).null_count():
        raise DataError(f"time column '{time}'", expected="no missing values",
                        found=f"{train.get_column(time).null_count()} nulls", fix="drop or fill those rows")
    _check_k(k, n - 1, "n_rows-1")
    if isinstance(gap, bool) or not isinstance(gap, int) or gap < 0:
        raise ConfigError("gap", expected="an int >= 0 (rows)", found=repr(gap), fix="use gap=0 or more")
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


