"""The parts of the competition tables that commands other than ``train`` need.

Scoring predictions (blends, stacks, re-scoring a run after a metric change) needs the ids and the
target only: :func:`load_targets` reads those columns and nothing else, so a train-only auxiliary
target (``is_even``), vote counts or a list-column signal in the tables cannot stop it.
Comparing train with test (adversarial validation, a stack's raw features) needs columns both tables
have as plain values: :func:`comparable_columns` leaves out train-only columns and nested ones
(Parquet lists, arrays, structs: the signals of a signal competition) and names them.
"""

from __future__ import annotations

import polars as pl

from medalist.core.config import ColumnsConfig
from medalist.workspace.data import CompetitionData, prepare, read_table, require_columns, scan_table

__all__ = ["load_targets", "comparable_columns", "NESTED_DTYPES"]

NESTED_DTYPES = (pl.List, pl.Array, pl.Struct)


def _schema(path, what: str) -> pl.Schema:
    return scan_table(path, what=what).collect_schema()


def load_targets(ws) -> CompetitionData:
    """Train's id, target, group and time columns and test's ids (and group/time when it has them).

    ``features`` is empty; ``train``/``test`` hold only those columns, encoded as a run encodes them
    (class labels -> codes 0..K-1, ``classes`` as in a run).
    """
    comp = ws.competition
    tr_cols = _schema(ws.train_path, "train").names()
    te_cols = _schema(ws.test_path, "test").names()
    roles = list(dict.fromkeys([comp.id, *comp.targets] + [c for c in (comp.group, comp.time) if c]))
    header = pl.DataFrame(schema={c: pl.Null for c in tr_cols})
    require_columns(header, [comp.id], file=comp.data.train, role="id column")
    require_columns(header, comp.targets, file=comp.data.train, role="target column")
    train = read_table(ws.train_path, what="train", columns=[c for c in roles if c in tr_cols])
    test_cols = [comp.id] + [c for c in roles[1:] if c in te_cols and c not in comp.targets]
    test = read_table(ws.test_path, what="test", columns=test_cols)
    return prepare(train, test, ws.competition, ColumnsConfig(use=[]), train_file=comp.data.train,
                   test_file=comp.data.test, need_features=False)


def comparable_columns(ws, columns: ColumnsConfig | None = None, *, weight: str | None = None
                       ) -> tuple[ColumnsConfig, list[str]]:
    """``columns`` (default: every column) less the would-be features test lacks or that hold nested
    values; returns the new settings and the names left out.

    Columns named in ``columns.use`` stay (a missing one is still reported by the data checks); the
    id, target, group, time and weight columns and ``columns.keep`` are never features anyway.
    """
    comp = ws.competition
    columns = columns or ColumnsConfig()
    tr, te = _schema(ws.train_path, "train"), _schema(ws.test_path, "test")
    roles = {comp.id, *comp.targets, *(c for c in (comp.group, comp.time, weight) if c), *columns.keep}
    candidates = [c for c in tr.names() if c not in roles and c not in columns.drop]
    if columns.use is not None:
        candidates = []
    out = [c for c in candidates if c not in te.names() or isinstance(tr[c], NESTED_DTYPES)]
    if not out:
        return columns, []
    cats = columns.categorical if columns.categorical == "auto" else [c for c in columns.categorical if c not in out]
    return columns.model_copy(update={"drop": [*columns.drop, *out], "categorical": cats}), out
