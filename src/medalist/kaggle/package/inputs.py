"""Input folders for verifying a package: the workspace's own data, and unseen rows like a Kaggle hidden test.

A hidden test differs from the public one in row count, row order and ids; :func:`unseen_input` builds such a
test from the workspace's test rows (whose answers a local competition knows), so a package that looks
predictions up by id or by position fails, while an honest one predicts every row.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from medalist.core.errors import DataError
from medalist.workspace.data import read_table

__all__ = ["copy_input", "unseen_input", "UnseenInput", "prediction_diff", "PredictionMismatch"]


def copy_input(ws, dst: Path, *, skip: tuple[str, ...] = (), link: bool = False) -> Path:
    """A folder like Kaggle's competition input at ``dst`` (created): copies of the files of the workspace's data folder
    (train, test, sample submission, tables), links to its sub-folders (images), except the names in ``skip``.
    ``link=True`` links the files too (the build's probe: nothing is copied)."""
    dst = Path(dst)
    dst.mkdir(parents=True)
    entries = [e for e in sorted(ws.train_path.parent.iterdir()) if not e.name.startswith(".")]
    entries += [p for p in (ws.test_path, ws.sample_submission_path) if p.parent != ws.train_path.parent]
    for e in entries:
        if e.name in skip or (dst / e.name).exists():
            continue
        if e.is_dir() or link:
            os.symlink(e.resolve(), dst / e.name, target_is_directory=e.is_dir())
        else:
            shutil.copy2(e, dst / e.name)
    return dst


@dataclass
class UnseenInput:
    """An input folder of unseen rows: ``ids`` maps each new id (``new``) to the workspace test id it re-keys (``old``),
    in the new test file's row order; ``answers`` is the hidden answers re-keyed (None without answers)."""

    dir: Path
    ids: pl.DataFrame
    answers: Path | None
    rows: int


def _write(frame: pl.DataFrame, path: Path) -> None:
    if path.suffix == ".parquet":
        frame.write_parquet(path)
    else:
        frame.write_csv(path, separator="\t" if path.suffix in (".tsv", ".tab") else ",")


def _new_ids(old: pl.Series, avoid: list[pl.Series], rng: np.random.Generator) -> pl.Series:
    """``len(old)`` fresh ids of ``old``'s dtype, none equal to any id in ``avoid``, in random order."""
    n = len(old)
    if old.dtype.is_integer():
        top = max(int(s.cast(pl.Int64, strict=False).max() or 0) for s in avoid)
        start = max(top + 1, 10 ** len(str(top)))  # a different magnitude: no id a package stored is reused
        return pl.Series(old.name, start + rng.permutation(n), dtype=old.dtype, strict=False)
    taken = set().union(*(set(s.cast(pl.String).to_list()) for s in avoid))
    fresh = [f"unseen_{i:07d}" for i in rng.permutation(n)]
    if taken & set(fresh):  # pragma: no cover - only if the workspace already uses this naming
        fresh = [f"unseen_{rng.integers(1 << 62):x}_{i}" for i in range(n)]
    return pl.Series(old.name, fresh, dtype=pl.String)


def unseen_input(ws, dst: Path, *, seed: int = 0, fraction: tuple[float, float] = (0.6, 0.8), rekey: bool = True) -> UnseenInput:
    """Write ``dst`` (created) like :func:`copy_input`, with a test file of unseen rows and its sample submission.

    The test rows are a random subsample (a fraction drawn in ``fraction``) of the workspace's test rows, shuffled
    and re-keyed with new ids that no train or test row has (integer ids get a new magnitude); the sample
    submission lists the new ids in the new row order with the original sample's values. For a local competition
    the hidden answers are re-keyed too (``answers.parquet`` beside, not inside, ``dst``). ``rekey=False`` keeps
    the ids (runs that read one file per row by its id, such as images named ``{id}.png``, need them).
    """
    comp = ws.competition
    id_col = comp.id
    test = read_table(ws.test_path, what="test")
    sample = read_table(ws.sample_submission_path, what="sample submission")
    if id_col not in test.columns or id_col not in sample.columns:
        raise DataError(f"{ws.test_path.name}/{ws.sample_submission_path.name}", expected=f"the id column '{id_col}'",
                        found="it is missing", fix="set competition.id to the id column of test and sample submission")
    rng = np.random.default_rng(seed)
    n = test.height
    k = max(1, int(round(n * rng.uniform(*fraction))))
    rows = rng.choice(n, size=k, replace=False)  # random order: the rows are shuffled too
    picked = test[rows.tolist()]
    avoid = [test[id_col]]
    try:
        avoid.append(read_table(ws.train_path, what="train", columns=[id_col]).get_column(id_col))
    except DataError:  # train without the id column: only test ids can collide
        pass
    new = _new_ids(picked[id_col], avoid, rng) if rekey else picked[id_col]
    ids = pl.DataFrame({"new": new, "old": picked[id_col]})
    dst = copy_input(ws, dst, skip=(ws.test_path.name, ws.sample_submission_path.name))
    _write(picked.with_columns(new.alias(id_col)), dst / ws.test_path.name)
    key = pl.DataFrame({"__old": picked[id_col].cast(pl.String), "__new": new})
    new_sample = (key.join(sample.with_columns(pl.col(id_col).cast(pl.String).alias("__old")), on="__old", how="left", maintain_order="left")
                  .with_columns(pl.col("__new").alias(id_col)).select(sample.columns))
    _write(new_sample, dst / ws.sample_submission_path.name)
    answers = None
    if ws.answers_path is not None and Path(ws.answers_path).is_file():
        ans = pl.read_parquet(ws.answers_path)
        mapped = key.join(ans.with_columns(pl.col(id_col).cast(pl.String).alias("__old")), on="__old", how="inner", maintain_order="left")
        answers = dst.parent / f"{dst.name}-answers.parquet"
        mapped.with_columns(pl.col("__new").alias(id_col)).select(ans.columns).write_parquet(answers)
    return UnseenInput(dst, ids, answers, k)


class PredictionMismatch(Exception):
    """Two prediction frames do not cover the same ids and columns (``expected``/``found`` say how)."""

    def __init__(self, expected: str, found: str) -> None:
        super().__init__(f"expected {expected}, found {found}")
        self.expected, self.found = expected, found


def prediction_diff(got: pl.DataFrame, want: pl.DataFrame, id_col: str) -> tuple[float, object, str]:
    """``(worst, id, column)``: the max abs difference of two prediction frames matched by id (a NaN on one
    side only counts as infinite), and where it is. Raises :class:`PredictionMismatch` when ids or columns differ.

    >>> a = pl.DataFrame({"id": [1, 2], "pred": [0.1, 0.5]})
    >>> prediction_diff(a, a.reverse().with_columns(pl.Series("pred", [0.75, 0.1])), "id")
    (0.25, 2, 'pred')
    """
    cols = [c for c in want.columns if c != id_col]
    if sorted(got.columns) != sorted(want.columns):
        raise PredictionMismatch(f"columns {want.columns}", f"{got.columns}")
    g_ids, w_ids = got[id_col].cast(pl.String), want[id_col].cast(pl.String)
    if got.height != want.height or set(g_ids.to_list()) != set(w_ids.to_list()):
        extra = sorted(set(g_ids.to_list()) ^ set(w_ids.to_list()))[:3]
        raise PredictionMismatch(f"{want.height} rows with the expected ids", f"{got.height} rows; ids differ, e.g. {extra}")
    j = want.with_columns(pl.col(id_col).cast(pl.String).alias("__key")).join(
        got.drop(id_col).with_columns(g_ids.alias("__key")), on="__key", how="left", suffix="__got", maintain_order="left")
    worst, where = 0.0, (None, "")
    for c in cols:
        d = np.abs(j[c].cast(pl.Float64).to_numpy() - j[f"{c}__got"].cast(pl.Float64).to_numpy())
        both_nan = np.isnan(j[c].cast(pl.Float64).to_numpy()) & np.isnan(j[f"{c}__got"].cast(pl.Float64).to_numpy())
        d = np.where(both_nan, 0.0, np.where(np.isnan(d), np.inf, d))
        if len(d) and d.max() > worst:
            worst, where = float(d.max()), (j[id_col][int(d.argmax())], c)
    return worst, where[0], where[1]
