"""Static feature blocks: computed once on train and test stacked together, never seeing the target.

Each block returns only the columns it creates, named deterministically
(``grp_mean_age_by_clinic_name``), in the row order of the frame it was given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import Field, field_validator

from medalist.core.errors import (
    ConfigError,
    DataError,
    FoldsError,
    RunError,
    did_you_mean,
)
from medalist.features.base import (
    PART,
    FeatureContext,
    Params,
    as_keys,
    key_name,
    register_block,
)

__all__ = [
    "GroupAgg", "GroupDeviation", "Lag", "CountEncode", "RankInGroup", "Expr", "DateParts", "Join", "Custom",
    "OofFeature", "decode",
]

Key = str | list[str]
Stat = Literal["mean", "std", "min", "max", "median", "count", "nunique"]


def decode(frame: pl.DataFrame, col: str, ctx: FeatureContext) -> pl.Series:
    """A column with categorical codes turned back into their labels (strings); others unchanged."""
    s = frame.get_column(col)
    cats = ctx.categories.get(col)
    if cats is None:
        return s
    return pl.Series(col, cats, dtype=pl.String).gather(s.cast(pl.UInt32))


def _float(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Float64)


# ----------------------------------------------------------------------------- group stats
class GroupAgg(Params):
    columns: list[str]
    by: list[Key]
    stats: list[Stat] = Field(default_factory=lambda: ["mean", "std"])
    columns_fields = ("columns", "by")


_AGG = {
    "mean": lambda c: _float(c).mean(), "std": lambda c: _float(c).std(), "min": lambda c: _float(c).min(),
    "max": lambda c: _float(c).max(), "median": lambda c: _float(c).median(),
    "count": lambda c: pl.col(c).count(), "nunique": lambda c: pl.col(c).n_unique(),
}


@register_block("group_agg", GroupAgg)
def group_agg(frame: pl.DataFrame, p: GroupAgg, ctx: FeatureContext) -> pl.DataFrame:
    """Statistics of ``columns`` within each group of every key in ``by`` (train+test rows together).

    >>> df = pl.DataFrame({"k": [1, 1, 2], "x": [1.0, 3.0, 5.0]})
    >>> group_agg(df, GroupAgg(columns=["x"], by=["k"], stats=["mean"]), FeatureContext())["grp_mean_x_by_k"].to_list()
    [2.0, 2.0, 5.0]
    """
    exprs = [
        _AGG[s](c).over(as_keys(key)).alias(f"grp_{s}_{key_name([c])}_by_{key_name(as_keys(key))}")
        for key in p.by for c in p.columns for s in p.stats
    ]
    return frame.select(exprs)


class GroupDeviation(Params):
    columns: list[str]
    by: list[Key]
    how: list[Literal["diff", "ratio", "z"]] = Field(default_factory=lambda: ["diff"])
    columns_fields = ("columns", "by")


@register_block("group_deviation", GroupDeviation)
def group_deviation(frame: pl.DataFrame, p: GroupDeviation, ctx: FeatureContext) -> pl.DataFrame:
    """A row's value minus (``diff``), over (``ratio``) or z-scored against (``z``) its group mean.

    >>> df = pl.DataFrame({"k": [1, 1], "x": [1.0, 3.0]})
    >>> group_deviation(df, GroupDeviation(columns=["x"], by=["k"]), FeatureContext())["dev_diff_x_by_k"].to_list()
    [-1.0, 1.0]
    """
    # The group statistics first, each window once (polars does not share a window between the
    # branches of when/then), then the forms from those columns.
    stats, exprs = [], []
    for i, key in enumerate(p.by):
        keys = as_keys(key)
        for j, c in enumerate(p.columns):
            m, sd = f"__mean_{i}_{j}", f"__std_{i}_{j}"
            stats.append(_float(c).mean().over(keys).alias(m))
            if "z" in p.how:
                stats.append(_float(c).std().over(keys).alias(sd))
            x, mean, std = _float(c), pl.col(m), pl.col(sd)
            forms = {
                "diff": x - mean,
                # a zero mean or spread has no ratio/z: null, not inf
                "ratio": pl.when(mean != 0).then(x / mean),
                "z": pl.when(std > 0).then((x - mean) / std),
            }
            exprs += [forms[h].alias(f"dev_{h}_{key_name([c])}_by_{key_name(keys)}") for h in p.how]
    values = frame.select(pl.col(p.columns), *stats)
    return values.select(exprs)


class RankInGroup(Params):
    columns: list[str]
    by: list[Key]
    columns_fields = ("columns", "by")


@register_block("rank_in_group", RankInGroup)
def rank_in_group(frame: pl.DataFrame, p: RankInGroup, ctx: FeatureContext) -> pl.DataFrame:
    """Percentile rank (average rank / group size, in (0, 1]) of each value within its group.

    >>> df = pl.DataFrame({"k": [1, 1, 1], "x": [3, 1, 2]})
    >>> rank_in_group(df, RankInGroup(columns=["x"], by=["k"]), FeatureContext())["rank_x_by_k"].to_list()
    [1.0, 0.3333333333333333, 0.6666666666666666]
    """
    return frame.select([
        (pl.col(c).rank("average") / pl.col(c).count()).over(as_keys(key)).alias(f"rank_{key_name([c])}_by_{key_name(as_keys(key))}")
        for key in p.by for c in p.columns
    ])


class CountEncode(Params):
    columns: list[Key]
    columns_fields = ("columns",)


@register_block("count_encode", CountEncode)
def count_encode(frame: pl.DataFrame, p: CountEncode, ctx: FeatureContext) -> pl.DataFrame:
    """How many train+test rows share each value (or value combination) of ``columns``.

    >>> count_encode(pl.DataFrame({"c": ["a", "a", "b"]}), CountEncode(columns=["c"]), FeatureContext())["cnt_c"].to_list()
    [2, 2, 1]
    """
    return frame.select([pl.len().over(as_keys(k)).cast(pl.Int64).alias(f"cnt_{key_name(as_keys(k))}") for k in p.columns])


# ----------------------------------------------------------------------------- time
class Lag(Params):
    columns: list[str]
    by: list[str]
    time: str | None = None  # default: competition.time
    n: list[int] = Field(default_factory=lambda: [1])
    diff: bool = True
    columns_fields = ("columns", "by", "time")

    @field_validator("n")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if not v or any(i == 0 for i in v):
            raise ValueError("a non-empty list of non-zero shifts")
        return v


@register_block("lag", Lag)
def lag(frame: pl.DataFrame, p: Lag, ctx: FeatureContext) -> pl.DataFrame:
    """Per entity (``by``), the value ``n`` steps earlier in ``time`` and the change since then.

    >>> df = pl.DataFrame({"e": [1, 1, 1], "t": [3, 1, 2], "x": [30.0, 10.0, 20.0]})
    >>> lag(df, Lag(columns=["x"], by=["e"], time="t"), FeatureContext())["lag1_x_by_e"].to_list()
    [20.0, None, 10.0]
    """
    time = p.time or ctx.time
    if time is None:
        raise ConfigError(ctx.where("time"), expected="a time column to order each entity's rows", found="none",
                          fix="add 'time: COLUMN' to the lag block or competition.time to medalist.yaml")
    if time not in frame.columns:
        raise ConfigError(ctx.where("time"), expected="a column of train/test",
                          found=f"no column '{time}'{did_you_mean(time, frame.columns)}", fix="fix the name")
    exprs = []
    for c in p.columns:
        for n in p.n:
            shifted = _float(c).shift(n).over(p.by, order_by=time)
            name = f"{key_name([c])}_by_{key_name(p.by)}"
            exprs.append(shifted.alias(f"lag{n}_{name}"))
            if p.diff:
                exprs.append((_float(c) - shifted).alias(f"diff{n}_{name}"))
    return frame.select(exprs)


_PARTS = {
    "year": lambda e: e.dt.year(), "month": lambda e: e.dt.month(), "day": lambda e: e.dt.day(),
    "weekday": lambda e: e.dt.weekday(), "hour": lambda e: e.dt.hour(), "dayofyear": lambda e: e.dt.ordinal_day(),
}


class DateParts(Params):
    column: str
    parts: list[Literal["year", "month", "day", "weekday", "hour", "dayofyear"]] = Field(
        default_factory=lambda: ["year", "month", "day", "weekday"])
    format: str | None = None  # strptime format of a text column; default: inferred
    unit: Literal["d", "s", "ms", "us", "ns"] | None = None  # for a numeric column: what one unit is
    columns_fields = ("column",)


@register_block("date_parts", DateParts)
def date_parts(frame: pl.DataFrame, p: DateParts, ctx: FeatureContext) -> pl.DataFrame:
    """Calendar parts of a date column (text, a date type, or numbers since 1970 with ``unit``).

    >>> df = pl.DataFrame({"d": ["2024-03-05"]})
    >>> date_parts(df, DateParts(column="d", parts=["year", "month"]), FeatureContext()).row(0)
    (2024, 3)
    """
    s = decode(frame, p.column, ctx)
    if s.dtype == pl.String:
        dt = s.str.to_datetime(p.format, strict=False)
        if dt.null_count() > s.null_count():
            bad = s.filter(dt.is_null() & s.is_not_null())[0]
            raise DataError(ctx.where("column"), expected=f"dates{' in format ' + p.format if p.format else ''}",
                            found=f"unparseable values such as {bad!r}", fix="set 'format:' (e.g. '%d/%m/%Y')")
    elif s.dtype.is_temporal():
        dt = s
    elif s.dtype.is_numeric():
        if p.unit is None:
            raise ConfigError(ctx.where("unit"), expected="the unit of numeric column '%s' (d, s, ms, us, ns)" % p.column,
                              found="none", fix="add 'unit: d' for days since 1970, 's' for epoch seconds, ...")
        dt = (s.cast(pl.Int64) * 86_400_000_000).cast(pl.Datetime("us")) if p.unit == "d" else s.cast(pl.Int64).cast(pl.Datetime(p.unit))
    else:
        raise DataError(ctx.where("column"), expected="a date, text or numeric column", found=f"dtype {s.dtype}")
    tmp = pl.DataFrame({"d": dt})
    return tmp.select([_PARTS[part](pl.col("d")).cast(pl.Int32).alias(f"{key_name([p.column])}_{part}") for part in p.parts])


# ----------------------------------------------------------------------------- arithmetic
class Expr(Params):
    name: str
    sql: str


@register_block("expr", Expr)
def expr(frame: pl.DataFrame, p: Expr, ctx: FeatureContext) -> pl.DataFrame:
    """A named column from a Polars SQL expression over existing columns.

    >>> df = pl.DataFrame({"w": [80.0], "h": [2.0]})
    >>> expr(df, Expr(name="bmi", sql="w / (h * h)"), FeatureContext())["bmi"].to_list()
    [20.0]
    """
    try:
        e = pl.sql_expr(p.sql)
    except Exception as err:  # polars raises several types for bad SQL
        raise ConfigError(ctx.where("sql"), expected="a Polars SQL expression", found=f"{p.sql!r}: {str(err).splitlines()[0]}") from None
    for c in e.meta.root_names():
        if c in ctx.target:
            raise ConfigError(ctx.where("sql"), expected="an expression of feature columns",
                              found=f"the target '{c}' (it would leak)", fix="remove it")
        if c not in frame.columns:
            raise ConfigError(ctx.where("sql"), expected="columns of train/test or of earlier blocks",
                              found=f"no column '{c}'{did_you_mean(c, frame.columns)}", fix="fix the name")
    return frame.select(e.alias(p.name))


# ----------------------------------------------------------------------------- other tables and code
class Join(Params):
    path: str
    on: list[str]
    columns: list[str] | None = None  # default: every column of the table but the keys
    prefix: str = ""
    columns_fields = ("on",)


@register_block("join", Join)
def join(frame: pl.DataFrame, p: Join, ctx: FeatureContext) -> pl.DataFrame:
    """Left-join columns of an external table (CSV/Parquet, one row per key) on ``on``.

    Keys that are category codes here are matched on their labels.
    """
    from medalist.workspace.data import read_table

    path = Path(p.path) if Path(p.path).is_absolute() else ctx.root / p.path
    table = read_table(path, what="join")
    for k in p.on:
        if k not in table.columns:
            raise DataError(f"{ctx.where('on')}: {path.name}", expected=f"key column '{k}' in the joined table",
                            found=f"no such column{did_you_mean(k, table.columns)}", fix="fix 'on' or the table")
    cols = p.columns if p.columns is not None else [c for c in table.columns if c not in p.on]
    for c in cols:
        if c not in table.columns:
            raise ConfigError(ctx.where("columns"), expected=f"columns of {path.name}",
                              found=f"no column '{c}'{did_you_mean(c, table.columns)}", fix="fix the name")
    if table.select(p.on).is_duplicated().any():
        raise DataError(f"{ctx.where('on')}: {path.name}", expected="one row per key", found="duplicated keys",
                        fix="aggregate the table first (a left join would duplicate rows)")
    left = pl.DataFrame([decode(frame, k, ctx) for k in p.on])
    right = table.select([pl.col(k).cast(left.schema[k], strict=False) for k in p.on] + [pl.col(c).alias(p.prefix + c) for c in cols])
    return left.join(right, on=p.on, how="left", maintain_order="left", nulls_equal=False).drop(p.on)


class Custom(Params):
    function: str  # "package.module:function" or "package.module.function"
    params: dict[str, Any] = Field(default_factory=dict)
    # cache the output, keyed by every input column and the function's module source. Off by
    # default: code the module imports is not part of the key.
    cache: bool = False


def _import(dotted: str, ctx: FeatureContext) -> Any:
    from medalist.core.safety import check_dotted, check_resolved, import_checked

    # only functions of modules medalist.yaml trusts; refused here, before any import
    mod, attr = check_dotted(dotted, where=ctx.where("function"), kind="feature")
    try:
        return check_resolved(getattr(import_checked(mod), attr), dotted, where=ctx.where("function"), kind="feature")
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(ctx.where("function"), expected="an importable 'package.module:function'",
                          found=f"{dotted!r} ({type(e).__name__}: {e})", fix="check the path and that the module is importable") from None


@register_block("custom", Custom)
def custom(frame: pl.DataFrame, p: Custom, ctx: FeatureContext) -> pl.DataFrame:
    """Call a user function ``fn(frame, params) -> frame``; the columns it adds become features."""
    out = _import(p.function, ctx)(frame, dict(p.params))
    if not isinstance(out, pl.DataFrame) or out.height != frame.height:
        found = f"{type(out).__name__}" + (f" with {out.height} rows" if isinstance(out, pl.DataFrame) else "")
        raise DataError(ctx.where("function"), expected=f"a polars DataFrame with {frame.height} rows in the same order",
                        found=found, fix="return frame.with_columns(...)")
    return out.select([c for c in out.columns if c not in frame.columns])


# ----------------------------------------------------------------------------- other runs
class OofFeature(Params):
    run: str
    name: str | None = None  # default: oof_<run>[_<class>]
    # percentile rank within each fold's predictions (test: within test): removes the calibration
    # shift between fold models, which a tree model would otherwise split on
    rank: bool = False


@register_block("oof_feature", OofFeature)
def oof_feature(frame: pl.DataFrame, p: OofFeature, ctx: FeatureContext) -> pl.DataFrame:
    """Another run's OOF predictions on train rows and its test predictions on test rows.

    The run must be finished and made on the same folds, or its OOF would have seen this run's
    validation rows.
    """
    from medalist.runs.store import Run

    if ctx.ws is None:
        raise ConfigError(ctx.where("run"), expected="a workspace to read runs from", found="none", fix="run inside a workspace")
    try:
        run = Run.open(ctx.ws, p.run)
    except RunError as e:
        raise e.within(ctx.where("run")) from None
    if run.status != "done":
        raise RunError(ctx.where("run"), expected=f"a finished run '{p.run}'", found=f"status '{run.status}'",
                       fix=f"finish it first (`medalist train CONFIG --resume {p.run}`)")
    theirs = run.record.folds_hash
    if theirs != ctx.folds_hash:
        raise FoldsError(ctx.where("run"), expected=f"a run on the current folds (hash {ctx.folds_hash})",
                         found=f"run '{p.run}' used folds {theirs}",
                         fix=f"retrain '{p.run}' on the current folds.parquet, then use its OOF")
    oof, test = run.oof(), run.test()
    pcols = [c for c in oof.columns if c.startswith("pred")]
    if p.rank:
        pct = lambda c: (pl.col(c).rank("average") / pl.col(c).count())  # noqa: E731
        oof = oof.with_columns([pct(c).over("fold") for c in pcols])
        test = test.with_columns([pct(c) for c in pcols])
    base = p.name or f"oof_{key_name([p.run])}"
    names = {c: base if len(pcols) == 1 else f"{base}_{key_name([c.removeprefix('pred_')])}" for c in pcols}
    ids = frame.select(ctx.id, PART)
    parts = []
    for part, preds in ((0, oof), (1, test)):
        preds = preds.select(pl.col(ctx.id).cast(frame.schema[ctx.id], strict=False), *[pl.col(c).alias(n) for c, n in names.items()])
        parts.append(preds.with_columns(pl.lit(part, dtype=ids.schema[PART]).alias(PART)))
    out = ids.join(pl.concat(parts), on=[ctx.id, PART], how="left", maintain_order="left").drop(ctx.id, PART)
    missing = out.get_column(out.columns[0]).is_null() & (frame.get_column(PART) == 0)
    if missing.sum() == frame.height - int(frame.get_column(PART).sum()):
        raise RunError(ctx.where("run"), expected=f"predictions of run '{p.run}' for this train data's ids",
                       found="no matching id", fix="use a run of this competition")
    return out
