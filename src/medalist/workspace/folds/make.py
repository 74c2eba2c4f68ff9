"""``make_folds``: a validated fold assignment of train rows (one per repeat) as :class:`Folds`."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import polars as pl

from medalist.core.errors import ConfigError, DataError, did_you_mean
from medalist.workspace.folds.saved import Folds, train_hash
from medalist.workspace.folds.schemes import (
    SCHEMES,
    TASKS,
    assign,
    need_column,
    time_blocks,
)

__all__ = ["make_folds"]


def make_folds(train: pl.DataFrame, *, id_col: str, target: list[str], task: str, scheme: str,
               k: int = 5, group: str | None = None, time: str | None = None, gap: int | str = 0,
               repeats: int = 1, seed: int = 42) -> Folds:
    """Assign every train row a fold for each repeat (repeat r is shuffled with seed + r).

    ``gap`` (scheme ``time``): rows left out before each validation block, or a time span such as
    ``"7d"`` / ``"12h"`` (train rows at least that long before the block's first time value).

    >>> train = pl.DataFrame({"id": range(8), "y": [0.5 * i for i in range(8)]})
    >>> make_folds(train, id_col="id", target=["y"], task="regression", scheme="kfold", k=4).n_splits
    4
    """
    target = [target] if isinstance(target, str) else list(target)
    _check_inputs(train, id_col=id_col, target=target, task=task, scheme=scheme, repeats=repeats)
    ids = train.get_column(id_col)
    order = pl.Series("order", [None] * train.height, dtype=pl.Int64)
    ends: dict[int, int] = {}
    if scheme == "time":
        fold, order_np = time_blocks(train, time, k, gap, ends)
        order, per_repeat = pl.Series("order", order_np, dtype=pl.Int64), [fold]
    else:
        per_repeat = [assign(train, target=target, task=task, scheme=scheme, k=k, group=group, seed=seed + r)
                      for r in range(repeats)]
    table = pl.concat([
        pl.DataFrame([ids, pl.Series("repeat", np.full(train.height, r, np.int16)),
                      pl.Series("fold", f, dtype=pl.Int16), order])
        for r, f in enumerate(per_repeat)
    ])
    meta = dict(scheme=scheme, k=k, repeats=repeats, seed=seed, group=group, time=time, gap=gap,
                id_col=id_col, target=target, task=task, n_rows=train.height,
                train_hash=train_hash(train, id_col, target),
                created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if ends:  # gap as a time span: per fold, how many time-sorted rows its models train on
        meta["train_end"] = {str(f): int(e) for f, e in ends.items()}
    try:
        from importlib.metadata import version

        meta["medalist_version"] = version("medalist")
    except Exception:  # version is informational only
        pass
    folds = Folds(table, meta)
    folds.meta["hash"] = folds.hash
    folds.validate_groups(train)
    return folds


def _check_inputs(train: pl.DataFrame, *, id_col: str, target: list[str], task: str, scheme: str, repeats: int) -> None:
    """ConfigError/DataError for an unknown scheme or task, bad repeats, missing columns or non-unique ids."""
    if scheme not in SCHEMES:
        raise ConfigError("scheme", expected=f"one of {', '.join(SCHEMES)}",
                          found=f"'{scheme}'{did_you_mean(scheme, SCHEMES)}", fix="pick a listed scheme")
    if task not in TASKS:
        raise ConfigError("task", expected=f"one of {', '.join(TASKS)}",
                          found=f"'{task}'{did_you_mean(task, TASKS)}", fix="pick a listed task")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError("repeats", expected="an int >= 1", found=repr(repeats), fix="use repeats=1")
    if repeats > 1 and scheme == "time":
        raise ConfigError("repeats", expected="1 for scheme 'time' (a time split has one order)",
                          found=str(repeats), fix="use repeats=1")
    for col, role in [(id_col, "id"), *[(t, "target") for t in target]]:
        need_column(train, col, role)
    dup = train.group_by(id_col).len().filter(pl.col("len") > 1)
    if dup.height or train.get_column(id_col).null_count():
        example = f"e.g. id {dup.item(0, 0)!r} appears {dup.item(0, 1)} times" if dup.height else "null ids"
        raise DataError(f"id column '{id_col}'", expected="unique, non-null ids",
                        found=f"{dup.height} duplicated ids ({example})",
                        fix="deduplicate train or choose a unique id column")
