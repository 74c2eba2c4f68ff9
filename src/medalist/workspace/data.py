"""Read competition tables with Polars, check them, and turn them into model-ready frames.

Every check raises a :class:`~medalist.core.errors.DataError` naming the file and column, what was
expected and what was found. String columns become integer category codes shared by train and test
(train's values sorted, then values only test has: the same mapping for every fold and every model, no
target information involved, and a train value's code does not depend on which rows the test set holds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from medalist.core.config import ColumnsConfig, CompetitionConfig
from medalist.core.errors import DataError, did_you_mean

__all__ = ["read_table", "scan_table", "table_columns", "needed_columns", "require_columns", "encode_target", "CompetitionData", "load_competition_data", "prepare", "check_unique_ids"]

_CATEGORICAL_DTYPES = (pl.String, pl.Categorical, pl.Enum)


def scan_table(path: Path, *, what: str = "table") -> pl.LazyFrame:
    """A lazy scan of a CSV/TSV/Parquet file: nothing is read until ``collect``; errors name the file.

    Selecting columns before ``collect`` reads only those (projection pushdown), which is what lets a
    config with ``columns.use`` open a wide 10 GB table in a fraction of its memory.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(str(path), expected=f"the {what} file", found="no such file", fix="check the path in medalist.yaml (competition.data)")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pl.scan_parquet(path)
        if name.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
            if path.stat().st_size == 0:
                raise DataError(str(path), expected=f"a {what} table with a header and rows", found="an empty file (0 bytes)",
                                fix="re-export or re-download the file")
            if name.endswith(".gz"):  # scan_csv cannot stream a compressed file
                return pl.read_csv(path, infer_schema_length=50_000, try_parse_dates=False).lazy()
            sep = "\t" if name.endswith(".tsv") else ","
            return pl.scan_csv(path, separator=sep, infer_schema_length=50_000, try_parse_dates=False)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, OSError) as e:
        raise DataError(str(path), expected=f"a readable {what} table", found=str(e).splitlines()[0],
                        fix="check that the file is valid CSV/Parquet") from None
    raise DataError(str(path), expected="a .csv, .tsv or .parquet file", found=f"'{path.suffix}'", fix="convert it to CSV or Parquet")


def table_columns(path: Path, *, what: str = "table") -> list[str]:
    """The column names of a table file, read from its header/metadata only."""
    try:
        return scan_table(path, what=what).collect_schema().names()
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, OSError) as e:
        raise DataError(str(path), expected=f"a readable {what} table", found=str(e).splitlines()[0],
                        fix="check that the file is valid CSV/Parquet") from None


def read_table(path: Path, *, what: str = "table", columns: list[str] | None = None) -> pl.DataFrame:
    """Read a CSV/TSV/Parquet file (only ``columns`` when given, in that order); errors name the file.

    >>> df = read_table(Workspace.find().train_path, what="train", columns=["target", "id"])
    >>> df.shape, df.columns
    ((398, 2), ['target', 'id'])
    """
    path = Path(path)
    lf = scan_table(path, what=what)
    name = path.name.lower()
    try:
        if columns is not None:
            require_columns(pl.DataFrame(schema=lf.collect_schema()), list(columns), file=str(path))
            lf = lf.select(list(columns))
        df = lf.collect()
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, pl.exceptions.SchemaError, OSError) as e:
        raise DataError(str(path), expected=f"a readable {what} table", found=str(e).splitlines()[0],
                        fix="check that the file is valid CSV/Parquet") from None
    if df.height == 0:
        raise DataError(str(path), expected=f"a {what} table with rows", found="0 rows (a header only)" if name.endswith((".csv", ".csv.gz", ".tsv", ".txt")) else "0 rows",
                        fix="re-export or re-download the file")
    return df


def require_columns(frame: pl.DataFrame, columns: list[str], *, file: str, role: str = "column") -> None:
    for c in columns:
        if c not in frame.columns:
            raise DataError(
                f"{file}: {role} '{c}'",
                expected=f"a column of {file}",
                found=f"no such column{did_you_mean(c, frame.columns)}; columns are {', '.join(frame.columns[:20])}"
                + ("…" if frame.width > 20 else ""),
                fix="fix the name in medalist.yaml or the experiment config",
            )


def check_unique_ids(frame: pl.DataFrame, id_col: str, *, file: str) -> None:
    dup = frame.get_column(id_col).is_duplicated()
    if dup.any():
        ex = frame.filter(dup).get_column(id_col)
        raise DataError(
            f"{file}: id column '{id_col}'",
            expected="unique ids",
            found=f"{ex.n_unique()} duplicated ids (e.g. {ex[0]!r} appears {int((frame.get_column(id_col) == ex[0]).sum())} times)",
            fix="deduplicate the file or choose another id column",
        )


@dataclass
class CompetitionData:
    """Train and test, encoded; what a run fits on."""

    train: pl.DataFrame
    test: pl.DataFrame
    id: str
    target: list[str]
    features: list[str]
    categorical: list[str]
    task: str
    classes: list | None = None  # original labels of classes 0..K-1 (binary/multiclass); the target columns (distribution)
    weight: str | None = None
    categories: dict[str, list] = field(default_factory=dict)

    @property
    def n_classes(self) -> int | None:
        return len(self.classes) if self.task in ("multiclass", "distribution") and self.classes else None

    def y(self, frame: pl.DataFrame | None = None) -> np.ndarray:
        """The target of ``frame`` (default: train) as models and metrics take it: (n,) codes or values,
        (n, L) 0/1 for multilabel, (n, K) row-normalised class probabilities for a distribution."""
        return target_array(self.task, self.target, self.train if frame is None else frame)


def target_array(task: str, target: list[str], frame: pl.DataFrame) -> np.ndarray:
    """``frame``'s target for ``task``; a distribution's votes become per-row fractions (rows sum to 1).

    >>> f = pl.DataFrame({"a": [3.0, 0.0], "b": [1.0, 2.0]})
    >>> target_array("distribution", ["a", "b"], f).tolist()
    [[0.75, 0.25], [0.0, 1.0]]
    """
    if task == "multilabel":
        return frame.select(target).to_numpy()
    if task == "distribution":
        v = frame.select(target).to_numpy().astype(np.float64)
        return v / v.sum(axis=1, keepdims=True)
    return frame.get_column(target[0]).to_numpy()


def _check_distribution(train: pl.DataFrame, tcols: list[str], file: str) -> pl.DataFrame:
    """Vote/probability columns: numeric, >= 0, and no row summing to zero (it has no distribution)."""
    for t in tcols:
        s = train.get_column(t)
        if not s.dtype.is_numeric():
            raise DataError(f"{file}: target '{t}'", expected="numeric votes or probabilities for a distribution task",
                            found=f"dtype {s.dtype} (e.g. {s[0]!r})", fix="convert the column to numbers")
        n_neg = int((s < 0).sum())
        if n_neg:
            raise DataError(f"{file}: target '{t}'", expected="non-negative votes or probabilities",
                            found=f"{n_neg} negative values (e.g. {s.filter(s < 0)[0]!r})",
                            fix="fix or drop those rows; votes count annotators, so they are never negative")
    train = train.with_columns(pl.col(tcols).cast(pl.Float64))
    total = train.select(pl.sum_horizontal(tcols)).to_series()
    zero = total <= 0
    if zero.any():
        first = int(np.flatnonzero(zero.to_numpy())[0])
        raise DataError(f"{file}: targets {', '.join(tcols)}", expected="rows whose votes/probabilities sum to more than 0",
                        found=f"{int(zero.sum())} rows summing to 0 (the first is row {first + 1} of the file's data rows)",
                        fix="drop rows nobody voted on before training")
    return train


def encode_target(train: pl.DataFrame, comp: CompetitionConfig, file: str) -> tuple[pl.DataFrame, list | None]:
    tcols = comp.targets
    require_columns(train, tcols, file=file, role="target column")
    for t in tcols:
        s = train.get_column(t)
        n_null = s.null_count() + (int(s.is_nan().sum()) if s.dtype.is_float() else 0)
        if n_null:
            raise DataError(
                f"{file}: target '{t}'", expected="no missing values", found=f"{n_null} missing of {len(s)}",
                fix="drop those rows or fill the target before training",
            )
    if comp.task == "regression":
        s = train.get_column(tcols[0])
        if not s.dtype.is_numeric():
            raise DataError(
                f"{file}: target '{tcols[0]}'", expected="a numeric regression target",
                found=f"dtype {s.dtype} (e.g. {s[0]!r})", fix="convert it to numbers or set competition.task",
            )
        return train.with_columns(pl.col(tcols[0]).cast(pl.Float64)), None
    if comp.task == "distribution":
        return _check_distribution(train, tcols, file), list(tcols)
    if comp.task == "multilabel":
        for t in tcols:
            vals = set(train.get_column(t).cast(pl.Float64, strict=False).unique().to_list())
            if not vals <= {0.0, 1.0}:
                raise DataError(f"{file}: target '{t}'", expected="0/1 labels for a multilabel task", found=f"values {sorted(map(str, vals))[:5]}")
        return train.with_columns(pl.col(tcols).cast(pl.Int8)), None
    t = tcols[0]
    s = train.get_column(t)
    classes = sorted(s.unique().to_list())
    if comp.task == "binary" and len(classes) != 2:
        raise DataError(
            f"{file}: target '{t}'", expected="exactly 2 classes for a binary task", found=f"{len(classes)}: {classes[:6]}",
            fix="set competition.task to multiclass/regression or fix the target",
        )
    mapping = pl.DataFrame({t: classes, "__code": list(range(len(classes)))}, schema={t: s.dtype, "__code": pl.Int32})
    train = train.join(mapping, on=t, how="left", maintain_order="left").with_columns(pl.col("__code").alias(t)).drop("__code")
    return train, classes


def prepare(
    train: pl.DataFrame,
    test: pl.DataFrame,
    comp: CompetitionConfig,
    columns: ColumnsConfig | None = None,
    *,
    weight: str | None = None,
    train_file: str = "train",
    test_file: str = "test",
    need_features: bool = True,
) -> CompetitionData:
    """Check train/test against the competition config and encode them for models.

    ``need_features=False``: no feature column is required (scoring predictions needs only ids and targets)."""
    columns = columns or ColumnsConfig()
    tcols = comp.targets
    _check_roles(train, test, comp, columns, weight, train_file, test_file)
    features = _feature_columns(train, test, comp, columns, weight, train_file, test_file, need_features)
    if weight:
        _check_weight(train.get_column(weight), weight, train_file)
    train, classes = encode_target(train, comp, train_file)
    categorical = _categorical_columns(train, features, columns, train_file)
    enc_train, enc_test, categories = _encode_features(train, test, features, categorical, train_file, test_file)

    keep_train = [comp.id, *tcols] + [c for c in (comp.group, comp.time, weight) if c and c not in features]
    keep_train = list(dict.fromkeys([*keep_train, *columns.keep]))
    train_out = train.select(keep_train).with_columns(enc_train)
    # group/time columns stay in test too when it has them: feature blocks key on them (per-patient stats).
    keep_test = [comp.id] + [c for c in (comp.group, comp.time) if c and c not in features and c in test.columns]
    keep_test += [c for c in columns.keep if c in test.columns]
    test_out = test.select(list(dict.fromkeys(keep_test))).with_columns(enc_test)
    if weight:
        train_out = train_out.with_columns(pl.col(weight).cast(pl.Float64))
    return CompetitionData(
        train=train_out, test=test_out, id=comp.id, target=tcols, features=features, categorical=categorical,
        task=comp.task, classes=classes, weight=weight, categories=categories,
    )


def _check_roles(train: pl.DataFrame, test: pl.DataFrame, comp: CompetitionConfig, columns: ColumnsConfig,
                 weight: str | None, train_file: str, test_file: str) -> None:
    """Every column the config names (id, targets, group, time, weight, drop, keep) exists; ids are unique."""
    require_columns(train, [comp.id], file=train_file, role="id column")
    require_columns(train, comp.targets, file=train_file, role="target column")
    for role, c in (("group column", comp.group), ("time column", comp.time), ("weight column", weight)):
        if c:
            require_columns(train, [c], file=train_file, role=role)
    require_columns(test, [comp.id], file=test_file, role="id column")
    require_columns(train, columns.drop, file=train_file, role="dropped column")
    require_columns(train, columns.keep, file=train_file, role="kept column")
    check_unique_ids(train, comp.id, file=train_file)
    check_unique_ids(test, comp.id, file=test_file)


def _feature_columns(train: pl.DataFrame, test: pl.DataFrame, comp: CompetitionConfig, columns: ColumnsConfig,
                     weight: str | None, train_file: str, test_file: str, need_features: bool = True) -> list[str]:
    """``columns.use``, or every train column that plays no other role, less ``drop``; each must be in test."""
    special = [comp.id, *comp.targets] + [c for c in (comp.group, comp.time, weight) if c] + list(columns.keep)
    if columns.use is not None:
        require_columns(train, columns.use, file=train_file, role="feature")
        features = [c for c in columns.use if c not in columns.drop and c not in columns.keep]
    else:
        features = [c for c in train.columns if c not in special and c not in columns.drop]
    if not features and not columns.keep and need_features:  # kept columns alone feed e.g. an image model
        raise DataError(f"{train_file}", expected="at least one feature column", found="none left after removing id/target/group/time/drop")
    for c in features:
        if c not in test.columns:
            raise DataError(
                f"{test_file}: feature '{c}'", expected="every feature column of train in test",
                found=f"no such column{did_you_mean(c, test.columns)}",
                fix="add it to columns.drop in the experiment config if it is train-only",
            )
    return features


def _check_weight(w: pl.Series, weight: str, train_file: str) -> None:
    if not w.dtype.is_numeric() or w.null_count() or bool((w.cast(pl.Float64) < 0).any()):
        neg = int((w.cast(pl.Float64, strict=False) < 0).sum()) if w.dtype.is_numeric() else 0
        found = (f"dtype {w.dtype}" if not w.dtype.is_numeric() else f"{w.null_count()} missing values" if w.null_count()
                 else f"{neg} negative values (min {w.min()})")
        raise DataError(f"{train_file}: weight '{weight}'", expected="non-negative numbers without gaps", found=found,
                        fix="fix the weight column or set 'weight:' to another column")


def _categorical_columns(train: pl.DataFrame, features: list[str], columns: ColumnsConfig, train_file: str) -> list[str]:
    """The configured categorical columns plus every text feature (all text features for ``auto``)."""
    if columns.categorical == "auto":
        return [c for c in features if isinstance(train.schema[c], _CATEGORICAL_DTYPES)]
    require_columns(train, columns.categorical, file=train_file, role="categorical column")
    categorical = list(columns.categorical)
    categorical += [c for c in features if isinstance(train.schema[c], _CATEGORICAL_DTYPES) and c not in categorical]
    return categorical


def _encode_features(train: pl.DataFrame, test: pl.DataFrame, features: list[str], categorical: list[str],
                     train_file: str, test_file: str) -> tuple[list[pl.Series], list[pl.Series], dict[str, list]]:
    """Model-ready train and test series per feature, and the labels of each categorical column's codes."""
    categories: dict[str, list] = {}
    enc_train, enc_test = [], []
    for c in features:
        tr, te = train.get_column(c), test.get_column(c)
        if c in categorical:
            categories[c], tr, te = _category_codes(c, tr, te)
        else:
            tr, te = _numeric_pair(c, tr, te, train_file, test_file)
        enc_train.append(tr)
        enc_test.append(te)
    return enc_train, enc_test, categories


def _category_codes(c: str, tr: pl.Series, te: pl.Series) -> tuple[list, pl.Series, pl.Series]:
    """Int32 codes: train's values sorted, then values only test has, sorted (the same mapping for every fold and model).

    A train value's code depends on train alone, so a model predicts a row the same whatever other rows the
    test set holds (Kaggle's hidden test has values the public one lacks); values only in test get codes past
    every train code, which no model was fitted on.

    >>> cats, tr, te = _category_codes("c", pl.Series(["b", "c", None]), pl.Series(["a", "c"]))
    >>> cats, tr.to_list(), te.to_list()
    (['b', 'c', 'a'], [0, 1, None], [2, 1])
    """
    tr_s, te_s = tr.cast(pl.String), te.cast(pl.String)
    seen = sorted(tr_s.drop_nulls().unique().to_list())
    known = set(seen)
    cats = seen + sorted(v for v in te_s.drop_nulls().unique().to_list() if v not in known)
    lut = pl.DataFrame({"v": cats, "code": np.arange(len(cats), dtype=np.int32)}, schema={"v": pl.String, "code": pl.Int32})
    return (cats,
            pl.DataFrame({"v": tr_s}).join(lut, on="v", how="left", maintain_order="left").get_column("code").alias(c),
            pl.DataFrame({"v": te_s}).join(lut, on="v", how="left", maintain_order="left").get_column("code").alias(c))


def _numeric_pair(c: str, tr: pl.Series, te: pl.Series, train_file: str, test_file: str) -> tuple[pl.Series, pl.Series]:
    """Booleans as Int8, dates as Int64, and test cast to train's dtype; other dtypes are refused."""
    if tr.dtype == pl.Boolean:
        tr, te = tr.cast(pl.Int8), te.cast(pl.Int8, strict=False)
    elif tr.dtype.is_temporal():
        tr, te = tr.to_physical().cast(pl.Int64), te.cast(tr.dtype, strict=False).to_physical().cast(pl.Int64)
    elif not tr.dtype.is_numeric():
        raise DataError(f"{train_file}: feature '{c}'", expected="a numeric, boolean, date or string column", found=f"dtype {tr.dtype}", fix="drop or convert it")
    try:
        te = te.cast(tr.dtype if tr.dtype.is_numeric() else te.dtype, strict=True)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
        raise DataError(
            f"{test_file}: feature '{c}'", expected=f"values castable to train's dtype {tr.dtype}",
            found=f"dtype {te.dtype}", fix="fix the test file or drop the column",
        ) from None
    return tr, te


def needed_columns(available: list[str], comp: CompetitionConfig, columns: ColumnsConfig | None = None,
                   weight: str | None = None) -> list[str] | None:
    """The columns a run reads from a table with ``available`` columns; None: all of them.

    With ``columns.use`` only the id, target, group, time and weight columns plus the used features
    are read; with ``columns.drop`` the dropped ones are skipped. Names missing from the file are kept
    so the checks in :func:`prepare` report them with a did-you-mean.
    """
    columns = columns or ColumnsConfig()
    special = [comp.id, *comp.targets] + [c for c in (comp.group, comp.time, weight) if c]
    if columns.use is not None:
        cats = columns.categorical if isinstance(columns.categorical, list) else []
        want = list(dict.fromkeys([*special, *columns.use, *cats, *columns.keep]))
    elif columns.drop:
        drop = set(columns.drop) - set(special)
        want = [c for c in available if c not in drop] + [c for c in columns.drop if c not in available]
    else:
        return None
    return want


def load_competition_data(ws, columns: ColumnsConfig | None = None, *, weight: str | None = None) -> CompetitionData:
    """Read and prepare the workspace's train and test files, reading only the columns the run uses."""
    comp = ws.competition
    tr_cols = table_columns(ws.train_path, what="train")
    te_cols = table_columns(ws.test_path, what="test")
    want = needed_columns(tr_cols, comp, columns, weight)
    if want is None:
        train = read_table(ws.train_path, what="train")
        test = read_table(ws.test_path, what="test")
    else:
        # names missing from the file: the same errors prepare() gives, checked against the full header
        header = pl.DataFrame(schema={c: pl.Null for c in tr_cols})
        require_columns(header, [comp.id], file=comp.data.train, role="id column")
        require_columns(header, comp.targets, file=comp.data.train, role="target column")
        require_columns(header, list(columns.drop), file=comp.data.train, role="dropped column")
        require_columns(header, list(columns.use or []), file=comp.data.train, role="feature")
        train = read_table(ws.train_path, what="train", columns=[c for c in want if c in tr_cols])
        test = read_table(ws.test_path, what="test", columns=[c for c in want if c in te_cols])
        # dropped columns were never read: prepare() must not look for them again
        columns = columns.model_copy(update={"drop": [c for c in columns.drop if c in train.columns]})
    return prepare(
        train, test, comp, columns, weight=weight,
        train_file=comp.data.train, test_file=comp.data.test,
    )
