"""The saved fold assignment: :class:`Folds` (hash, save/load, checks against train, leak check of
groups, splits and summary) and its :class:`Split` positions."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from medalist.core.errors import FoldsError, LeakError, did_you_mean
from medalist.workspace.folds.schemes import GROUP_SCHEMES, need_column

__all__ = ["Split", "Folds", "train_hash", "REBUILD"]

_META_KEY = b"medalist"
REBUILD = "rebuild them with `medalist folds --force`"


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
                             fix=f"{REBUILD} instead of editing the file")
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
                                 found=f"no such column{did_you_mean(col, train.columns)}", fix=REBUILD)
        built = self.table.filter(pl.col("repeat") == 0).get_column(id_col)
        now = train.get_column(id_col).cast(built.dtype, strict=False)
        gone, new = built.filter(~built.is_in(now.implode())), now.filter(~now.is_in(built.implode()))
        if gone.len() or new.len() or built.len() != now.len():
            ex = f" (e.g. {gone[0]!r} missing)" if gone.len() else ""
            ex = f" (e.g. new id {new[0]!r})" if new.len() and not ex else ex
            raise FoldsError(f"id column '{id_col}'", expected=f"the {built.len()} ids the folds were built for",
                             found=f"{now.len()} rows, {gone.len()} missing and {new.len()} new ids{ex}",
                             fix=f"folds were built for other data; {REBUILD}")
        found = train_hash(train, id_col, target)
        if found != self.meta["train_hash"]:
            raise FoldsError(f"target {target}", expected=f"train hash {self.meta['train_hash']}",
                             found=f"{found}: target values changed",
                             fix=f"folds were built for other data; {REBUILD}")
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
        need_column(train, group, "group")
        pos = self._positions(train)
        pos = pos.with_columns(g=train.get_column(group).gather(pos.get_column("pos")))
        split = (pos.filter(pl.col("fold") >= 0).group_by("repeat", "g")
                 .agg(pl.col("fold").unique().sort()).filter(pl.col("fold").list.len() > 1))
        if split.height:
            r, g, f = split.row(0)
            # Folds made by a group scheme can only split a group if train's group values changed since.
            fix = (f"the '{group}' values in train changed since the folds were built; {REBUILD}"
                   if self.meta.get("scheme") in GROUP_SCHEMES else "use scheme 'group' or 'stratified-group', then " + REBUILD)
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
                ends = self.meta.get("train_end")
                if order is not None and ends:  # gap as a time span: the rows at least that long before the block
                    is_train = order < int(ends[str(int(f))])
                elif order is not None:  # train only on rows at least `gap` rows before the block
                    is_train = order < order[is_valid].min() - int(self.meta.get("gap") or 0)
                else:
                    is_train = ~is_valid
                out.append(Split(int(r), int(f), np.sort(p[is_train]), np.sort(p[is_valid])))
        return out

    def summary(self, train: pl.DataFrame, classes: list | None = None) -> pl.DataFrame:
        """Rows, target balance, groups and time range per (repeat, fold), to eyeball the split.

        Counts are integers. ``classes``: the labels of a target encoded as 0..n-1
        (:func:`medalist.workspace.data.encode_target`), so a multiclass split shows ``n_<label>``
        columns instead of ``n_<code>``.

        >>> from medalist.workspace.data import read_table
        >>> ws = Workspace.find()
        >>> Folds.load(ws.folds_path).summary(read_table(ws.train_path))
        shape: (3, 5)
        ┌────────┬──────┬──────┬───────────┬──────────┐
        │ repeat ┆ fold ┆ rows ┆ positives ┆ pos_rate │
        │ ---    ┆ ---  ┆ ---  ┆ ---       ┆ ---      │
        │ i16    ┆ i16  ┆ u32  ┆ i64       ┆ f64      │
        ╞════════╪══════╪══════╪═══════════╪══════════╡
        │ 0      ┆ 0    ┆ 133  ┆ 83        ┆ 0.62406  │
        │ 0      ┆ 1    ┆ 133  ┆ 84        ┆ 0.631579 │
        │ 0      ┆ 2    ┆ 132  ┆ 83        ┆ 0.628788 │
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
            aggs += [pos_.sum().cast(pl.Int64).alias("positives"), pos_.mean().alias("pos_rate")]
        elif task == "multiclass":
            codes = sorted(df.get_column(y).drop_nulls().unique().to_list())
            label = {i: c for i, c in enumerate(classes)} if classes and set(codes) <= set(range(len(classes))) else {}
            aggs += [(pl.col(y) == c).sum().cast(pl.Int64).alias(f"n_{label.get(c, c)}") for c in codes]
        elif task == "multilabel":
            aggs += [pl.col(t).cast(pl.Float64).mean().alias(f"{t}_rate") for t in target]
        elif task == "distribution":  # each class's mean share of the row's votes
            total = pl.sum_horizontal([pl.col(t).cast(pl.Float64) for t in target])
            aggs += [(pl.col(t).cast(pl.Float64) / total).mean().alias(f"{t}_share") for t in target]
        elif df.schema[y].is_numeric():
            aggs += [pl.col(y).cast(pl.Float64).mean().alias("target_mean")]
        if m.get("group"):
            aggs.append(pl.col(m["group"]).n_unique().alias("groups"))
        if m.get("scheme") == "time":
            aggs += [pl.col(m["time"]).min().alias("time_min"), pl.col(m["time"]).max().alias("time_max")]
        return df.group_by("repeat", "fold").agg(aggs).sort("repeat", "fold")
