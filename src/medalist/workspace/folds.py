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

import hashlib
import inspect
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.model_selection import (
    BaseCrossValidator,
    GroupKFold,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    TimeSeriesSplit,
)

from medalist.core.errors import (
    ConfigError,
    DataError,
    FoldsError,
    LeakError,
    did_you_mean,
)

__all__ = ["SCHEMES", "Split", "Folds", "PredefinedFolds", "make_folds", "train_hash", "build_folds"]

SCHEMES = ("kfold", "stratified", "group", "stratified-group", "time", "multilabel")
TASKS = ("binary", "multiclass", "regression", "multilabel")
_GROUP_SCHEMES = ("group", "stratified-group")
_META_KEY = b"medalist"
_REBUILD = "rebuild them with `medalist folds --force`"


@dataclass
class Split:
    """One (repeat, fold): sorted int64 positions into the train frame."""

    repeat: int
    fold: int
    train_idx: np.ndarray
    valid_idx: np.ndarray


def _digest(frame: pl.DataFrame) -> str:
    """sha256 (16 hex chars) of a frame's values; integer width is ignored so a re-read file matches."""
    h = hashlib.sha256()
    for name in frame.columns:
        s = frame.get_column(name)
        h.update(name.encode() + b"\x00")
        if s.dtype.is_integer():
            h.update(b"i" + s.cast(pl.Int64).fill_null(np.iinfo(np.int64).min).to_numpy().tobytes())
        elif s.dtype.is_float():
            h.update(b"f" + s.cast(pl.Float64).fill_null(np.nan).to_numpy().tobytes())
        else:
            h.update(b"s" + "\x1f".join(s.cast(pl.String).fill_null("\x00").to_list()).encode())
    return h.hexdigest()[:16]


def train_hash(train: pl.DataFrame, id_col: str, target: list[str]) -> str:
    """Fingerprint of the data folds were built for: ids and target values, keyed by id.

    Rows are sorted by id first, so re-ordering train.csv keeps its folds valid (they are joined
    by id) while a changed id or target value does not.

    >>> train_hash(pl.DataFrame({"id": [2, 1], "y": [0, 1]}), "id", ["y"]) == train_hash(
    ...     pl.DataFrame({"id": [1, 2], "y": [1, 0]}), "id", ["y"])
    True
    """
    return _digest(train.select([id_col, *target]).sort(id_col))


def _need_column(train: pl.DataFrame, col: str, role: str) -> None:
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
    """Class labels to stratify on; a regression target is cut into ~10 quantile bins."""
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
    _need_column(train, group, "group")
    s = train.get_column(group)
    if s.null_count():
        raise DataError(f"group column '{group}'", expected="no missing values",
                        found=f"{s.null_count()} nulls", fix="fill them with a unique value per row")
    return np.unique(s.to_numpy(), return_inverse=True)[1]


def _time_blocks(train: pl.DataFrame, time: str | None, k: int, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """(fold, order) per train row: TimeSeriesSplit blocks over time-sorted rows, -1 for the first block."""
    if time is None:
        raise ConfigError("scheme 'time'", expected="a time column", found="time=None",
                          fix="pass --time <column>")
    _need_column(train, time, "time")
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


def _assign(train, *, target, task, scheme, k, group, seed) -> np.ndarray:
    """Fold (0..k-1) per row for one repeat of a non-time scheme."""
    n, X = train.height, np.empty((train.height, 1))
    if scheme in _GROUP_SCHEMES:
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


def make_folds(train: pl.DataFrame, *, id_col: str, target: list[str], task: str, scheme: str,
               k: int = 5, group: str | None = None, time: str | None = None, gap: int = 0,
               repeats: int = 1, seed: int = 42) -> Folds:
    """Assign every train row a fold for each repeat (repeat r is shuffled with seed + r).

    >>> train = pl.DataFrame({"id": range(8), "y": [0.5 * i for i in range(8)]})
    >>> make_folds(train, id_col="id", target=["y"], task="regression", scheme="kfold", k=4).n_splits
    4
    """
    target = [target] if isinstance(target, str) else list(target)
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
        _need_column(train, col, role)
    ids = train.get_column(id_col)
    dup = train.group_by(id_col).len().filter(pl.col("len") > 1)
    if dup.height or ids.null_count():
        example = f"e.g. id {dup.item(0, 0)!r} appears {dup.item(0, 1)} times" if dup.height else "null ids"
        raise DataError(f"id column '{id_col}'", expected="unique, non-null ids",
                        found=f"{dup.height} duplicated ids ({example})",
                        fix="deduplicate train or choose a unique id column")

    order = pl.Series("order", [None] * train.height, dtype=pl.Int64)
    if scheme == "time":
        fold, order_np = _time_blocks(train, time, k, gap)
        order, per_repeat = pl.Series("order", order_np, dtype=pl.Int64), [fold]
    else:
        per_repeat = [_assign(train, target=target, task=task, scheme=scheme, k=k, group=group, seed=seed + r)
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
    try:
        from importlib.metadata import version

        meta["medalist_version"] = version("medalist")
    except Exception:  # version is informational only
        pass
    folds = Folds(table, meta)
    folds.meta["hash"] = folds.hash
    folds.validate_groups(train)
    return folds


class Folds:
    """A saved fold assignment: ``table`` (id, repeat, fold, order) plus ``meta``."""

    def __init__(self, table: pl.DataFrame, meta: dict) -> None:
        self.table = table
        self.meta = meta

    @property
    def hash(self) -> str:
        """Content hash of the table (16 hex chars); runs record it to prove they shared folds."""
        # The table is treated as immutable once built, so the digest is computed once.
        cached = getattr(self, "_hash", None)
        if cached is None or cached[0] is not self.table:
            self._hash = (self.table, _digest(self.table))
        return self._hash[1]

    @property
    def n_splits(self) -> int:
        return self.table.filter(pl.col("fold") >= 0).select("repeat", "fold").unique().height

    def __repr__(self) -> str:
        m = self.meta
        return f"Folds(scheme={m.get('scheme')!r}, k={m.get('k')}, repeats={m.get('repeats')}, hash={self.hash!r})"

    def save(self, path: Path) -> None:
        """Write parquet atomically, with ``meta`` as JSON under the ``medalist`` metadata key.

        >>> folds = Folds.load(Workspace.find().folds_path)
        >>> folds.save(Path("copy.parquet"))
        >>> Folds.load(Path("copy.parquet")).hash == folds.hash
        True
        """
        import pyarrow.parquet as pq

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrow = self.table.to_arrow()
        meta = json.dumps({**self.meta, "hash": self.hash}, default=str).encode()
        arrow = arrow.replace_schema_metadata({_META_KEY: meta})
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            pq.write_table(arrow, tmp)
            os.replace(tmp, path)  # readers never see a half-written file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> Folds:
        """Read a file written by :meth:`save`; FoldsError if missing, foreign, or edited by hand.

        >>> folds = Folds.load(Workspace.find().folds_path)
        >>> folds.meta["scheme"], folds.meta["k"], len(folds.hash)
        ('stratified', 3, 16)
        """
        import pyarrow.parquet as pq

        path = Path(path)
        if not path.exists():
            raise FoldsError(str(path), expected="a folds file", found="no such file",
                             fix="run `medalist folds` to create it")
        try:
            arrow = pq.read_table(path)
            meta = json.loads((arrow.schema.metadata or {})[_META_KEY])
        except Exception as e:  # any parse failure means the same thing to the user
            raise FoldsError(str(path), expected="a folds file written by `medalist folds`",
                             found=f"an unreadable or foreign file ({type(e).__name__})",
                             fix="delete it and run `medalist folds`") from None
        table = pl.from_arrow(arrow)
        folds = cls(table, meta)
        missing = sorted(map(str, {meta.get("id_col"), "repeat", "fold", "order"} - set(table.columns)))
        if missing or folds.hash != meta.get("hash"):
            found = f"missing columns {missing}" if missing else f"hash {folds.hash} (edited after saving)"
            raise FoldsError(str(path), expected=f"table hash {meta.get('hash')}", found=found,
                             fix=f"{_REBUILD} instead of editing the file")
        return folds

    def check(self, train: pl.DataFrame) -> None:
        """FoldsError unless ``train`` has the ids and target values these folds were built for.

        >>> from medalist.workspace.data import read_table
        >>> ws = Workspace.find()
        >>> folds, train = Folds.load(ws.folds_path), read_table(ws.train_path)
        >>> folds.check(train)  # the rows they were built for: silent
        >>> folds.check(train.head(100))
        Traceback (most recent call last):
        ...
        medalist.core.errors.FoldsError: id column 'id': expected the 398 ids the folds were built for, found 100 rows, 298 missing and 0 new ids (e.g. ...
        """
        id_col, target = self.meta["id_col"], list(self.meta["target"])
        for col in [id_col, *target]:
            if col not in train.columns:
                raise FoldsError(f"column '{col}'", expected="in train (the folds were built with it)",
                                 found=f"no such column{did_you_mean(col, train.columns)}", fix=_REBUILD)
        built = self.table.filter(pl.col("repeat") == 0).get_column(id_col)
        now = train.get_column(id_col).cast(built.dtype, strict=False)
        gone, new = built.filter(~built.is_in(now.implode())), now.filter(~now.is_in(built.implode()))
        if gone.len() or new.len() or built.len() != now.len():
            ex = f" (e.g. {gone[0]!r} missing)" if gone.len() else ""
            ex = f" (e.g. new id {new[0]!r})" if new.len() and not ex else ex
            raise FoldsError(f"id column '{id_col}'", expected=f"the {built.len()} ids the folds were built for",
                             found=f"{now.len()} rows, {gone.len()} missing and {new.len()} new ids{ex}",
                             fix=f"folds were built for other data; {_REBUILD}")
        found = train_hash(train, id_col, target)
        if found != self.meta["train_hash"]:
            raise FoldsError(f"target {target}", expected=f"train hash {self.meta['train_hash']}",
                             found=f"{found}: target values changed",
                             fix=f"folds were built for other data; {_REBUILD}")
        self.validate_groups(train)

    def _positions(self, train: pl.DataFrame) -> pl.DataFrame:
        """The table with ``pos``: each row's position in ``train`` (joined by id)."""
        id_col = self.meta["id_col"]
        ids = pl.col(id_col).cast(self.table.schema[id_col], strict=False)
        right = train.select(ids).with_row_index("pos")
        out = self.table.join(right, on=id_col, how="left", maintain_order="left")
        if out.get_column("pos").null_count():
            self.check(train)  # explains which ids are missing
        return out

    def validate_groups(self, train: pl.DataFrame) -> None:
        """LeakError if a group's rows are validated in two folds of one repeat (not for ``time``)."""
        group = self.meta.get("group")
        if not group or self.meta.get("scheme") == "time":
            return
        _need_column(train, group, "group")
        pos = self._positions(train)
        pos = pos.with_columns(g=train.get_column(group).gather(pos.get_column("pos")))
        split = (pos.filter(pl.col("fold") >= 0).group_by("repeat", "g")
                 .agg(pl.col("fold").unique().sort()).filter(pl.col("fold").list.len() > 1))
        if split.height:
            r, g, f = split.row(0)
            # Folds made by a group scheme can only split a group if train's group values changed since.
            fix = (f"the '{group}' values in train changed since the folds were built; {_REBUILD}"
                   if self.meta.get("scheme") in _GROUP_SCHEMES else "use scheme 'group' or 'stratified-group', then " + _REBUILD)
            raise LeakError(f"group column '{group}'", expected="each group in one validation fold per repeat",
                            found=f"{split.height} groups split, e.g. {g!r} in folds {f} of repeat {r}", fix=fix)

    def splits(self, train: pl.DataFrame) -> list[Split]:
        """One :class:`Split` per (repeat, fold), as positions into ``train`` (any row order).

        >>> from medalist.workspace.data import read_table
        >>> ws = Workspace.find()
        >>> folds, train = Folds.load(ws.folds_path), read_table(ws.train_path)
        >>> [(s.fold, len(s.train_idx), len(s.valid_idx)) for s in folds.splits(train.reverse())]
        [(0, 265, 133), (1, 265, 133), (2, 266, 132)]
        """
        pos = self._positions(train)
        out = []
        for (r,), part in pos.partition_by("repeat", as_dict=True, maintain_order=True).items():
            fold = part.get_column("fold").to_numpy()
            p = part.get_column("pos").to_numpy().astype(np.int64)
            order = part.get_column("order").to_numpy() if self.meta.get("scheme") == "time" else None
            for f in np.unique(fold[fold >= 0]):
                is_valid = fold == f
                if order is not None:  # train only on rows at least `gap` rows before the block
                    is_train = order < order[is_valid].min() - int(self.meta.get("gap") or 0)
                else:
                    is_train = ~is_valid
                out.append(Split(int(r), int(f), np.sort(p[is_train]), np.sort(p[is_valid])))
        return out

    def summary(self, train: pl.DataFrame) -> pl.DataFrame:
        """Rows, target balance, groups and time range per (repeat, fold), to eyeball the split.

        >>> from medalist.workspace.data import read_table
        >>> ws = Workspace.find()
        >>> Folds.load(ws.folds_path).summary(read_table(ws.train_path))
        shape: (3, 5)
        ┌────────┬──────┬──────┬───────────┬──────────┐
        │ repeat ┆ fold ┆ rows ┆ positives ┆ pos_rate │
        │ ---    ┆ ---  ┆ ---  ┆ ---       ┆ ---      │
        │ i16    ┆ i16  ┆ u32  ┆ f64       ┆ f64      │
        ╞════════╪══════╪══════╪═══════════╪══════════╡
        │ 0      ┆ 0    ┆ 133  ┆ 83.0      ┆ 0.62406  │
        │ 0      ┆ 1    ┆ 133  ┆ 84.0      ┆ 0.631579 │
        │ 0      ┆ 2    ┆ 132  ┆ 83.0      ┆ 0.628788 │
        └────────┴──────┴──────┴───────────┴──────────┘
        """
        m, pos = self.meta, self._positions(train)
        task, target = m.get("task"), list(m["target"])
        cols = {c: train.get_column(c).gather(pos.get_column("pos"))
                for c in {*target, *(c for c in (m.get("group"), m.get("time")) if c)}}
        df = pos.select("repeat", "fold").with_columns(**cols)
        aggs: list[pl.Expr] = [pl.len().alias("rows")]
        y = target[0]
        if task == "binary" and df.schema[y].is_numeric():
            pos_ = pl.col(y).cast(pl.Float64)
            aggs += [pos_.sum().alias("positives"), pos_.mean().alias("pos_rate")]
        elif task == "multiclass":
            classes = sorted(df.get_column(y).drop_nulls().unique().to_list())
            aggs += [(pl.col(y) == c).sum().alias(f"n_{c}") for c in classes]
        elif task == "multilabel":
            aggs += [pl.col(t).cast(pl.Float64).mean().alias(f"{t}_rate") for t in target]
        elif df.schema[y].is_numeric():
            aggs += [pl.col(y).cast(pl.Float64).mean().alias("target_mean")]
        if m.get("group"):
            aggs.append(pl.col(m["group"]).n_unique().alias("groups"))
        if m.get("scheme") == "time":
            aggs += [pl.col(m["time"]).min().alias("time_min"), pl.col(m["time"]).max().alias("time_max")]
        return df.group_by("repeat", "fold").agg(aggs).sort("repeat", "fold")


class PredefinedFolds(BaseCrossValidator):
    """Hand medalist folds to scikit-learn or LightGBM; ``X`` must be in ``train``'s row order.

    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_val_score
    >>> from medalist.workspace.data import read_table
    >>> ws = Workspace.find()
    >>> folds, train = Folds.load(ws.folds_path), read_table(ws.train_path)
    >>> X, y = train.select("mean_radius", "worst_area").to_numpy(), train["target"].to_numpy()
    >>> cross_val_score(LogisticRegression(), X, y, cv=PredefinedFolds(folds, train), scoring="roc_auc").round(3)
    array([0.99 , 0.991, 0.972])
    """

    def __init__(self, folds: Folds, train: pl.DataFrame) -> None:
        self.folds = folds
        self.train = train

    def __repr__(self) -> str:
        return f"PredefinedFolds({self.folds!r})"

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return self.folds.n_splits

    def split(self, X=None, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if X is not None and len(X) != self.train.height:
            raise DataError("X", expected=f"{self.train.height} rows in train's order",
                            found=f"{len(X)} rows", fix="pass the same rows the folds were built for")
        for s in self.folds.splits(self.train):
            yield s.train_idx, s.valid_idx

    def _iter_test_indices(self, X=None, y=None, groups=None):
        for s in self.folds.splits(self.train):
            yield s.valid_idx


def build_folds(ws, *, scheme: str | None = None, k: int | None = None, group: str | None = None,
                time: str | None = None, gap: int | None = None, repeats: int | None = None,
                seed: int | None = None, force: bool = False) -> tuple[Folds, pl.DataFrame]:
    """Make the workspace's folds.parquet (once) from medalist.yaml's ``folds:`` defaults and overrides.

    Returns the folds and their per-fold summary. The settings used are written back to medalist.yaml.
    """
    from medalist.workspace.data import encode_target, read_table

    comp, fc = ws.competition, ws.config.folds
    path = ws.folds_path
    if path.exists() and not force:
        old = Folds.load(path)
        raise FoldsError(str(path), expected="folds written once and shared by every run",
                         found=f"existing folds (scheme {old.meta.get('scheme')}, hash {old.hash})",
                         fix="keep them, or pass --force to rebuild (runs on the old folds can then not be blended with new ones)")
    settings = fc.model_copy(update={k_: v for k_, v in dict(scheme=scheme, k=k, group=group, time=time, gap=gap,
                                                                repeats=repeats, seed=seed).items() if v is not None})
    group_col = settings.group or (comp.group if settings.scheme in _GROUP_SCHEMES else None)
    time_col = settings.time or (comp.time if settings.scheme == "time" else None)
    if settings.scheme is None:
        settings.scheme = "stratified" if comp.task in ("binary", "multiclass") else "multilabel" if comp.task == "multilabel" else "kfold"
    train = read_table(ws.train_path, what="train")
    train, _ = encode_target(train, comp, comp.data.train)
    folds = make_folds(train, id_col=comp.id, target=comp.targets, task=comp.task, scheme=settings.scheme,
                       k=settings.k, group=group_col, time=time_col, gap=settings.gap,
                       repeats=settings.repeats, seed=settings.seed)
    folds.save(path)
    settings.group, settings.time = group_col, time_col
    ws.config.folds = settings
    ws.save_config()
    return folds, folds.summary(train)
