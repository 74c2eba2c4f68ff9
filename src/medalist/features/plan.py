"""A FeaturePlan: an experiment's ``features:`` list, validated, split into static and per-fold steps.

The runner stays generic: it calls :meth:`FeaturePlan.static` once before the CV loop (train+test
stacked, no target) and :meth:`FeaturePlan.for_split` inside each split (target-aware blocks,
statistics from that split's train rows only).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import ConfigError, DataError
from medalist.features.base import (
    FEATURES,
    PART,
    Block,
    FeatureContext,
    Params,
    check_columns,
    validate_params,
)

__all__ = ["FeaturePlan", "Step", "build_plan", "apply_static", "describe_features", "fold_labels", "CACHE_VERSION"]

log = logging.getLogger("medalist.features")

# Bump when a block's output for the same inputs changes, so old cache entries are not reused.
CACHE_VERSION = 1


@dataclass
class Step:
    """One validated block of the features list and its position there."""

    block: Block
    params: Params
    index: int


class FeaturePlan:
    """The validated feature blocks of one experiment.

    >>> plan = FeaturePlan([{"block": "count_encode", "columns": ["c"]}])
    >>> tr, te, cols = plan.static(pl.DataFrame({"id": [1, 2], "c": [5, 5]}), pl.DataFrame({"id": [3], "c": [6]}))
    >>> cols, tr["cnt_c"].to_list()
    (['cnt_c'], [2, 2])
    """

    def __init__(self, specs: list[dict[str, Any]] | None, ctx: FeatureContext | None = None) -> None:
        self.ctx = ctx or FeatureContext()
        self.steps: list[Step] = []
        self.columns: dict[str, str] = {}  # created column -> block name, in creation order
        self.sources: dict[str, int] = {}  # created column -> index of the block that made it
        self.categorical: list[str] = []  # created columns that hold category codes
        self._ready: list[str] | None = None  # columns after static(): what per-fold blocks may use
        self.cache_hits: list[int] = []  # indexes of static blocks read from the cache by the last static()
        self.cache_misses: list[int] = []  # … and of those computed (and written to the cache)
        for i, spec in enumerate(specs or []):
            self.ctx.index = i
            if not isinstance(spec, dict) or "block" not in spec:
                raise ConfigError(self.ctx.where(), expected="a mapping with 'block: NAME' and its parameters",
                                  found=repr(spec), fix="write e.g. '- {block: group_agg, columns: [age], by: [[clinic]]}'")
            raw = dict(spec)
            name = raw.pop("block")
            try:
                block = FEATURES.get(str(name))
            except ConfigError as e:
                raise e.within(self.ctx.where("block")) from None
            self.steps.append(Step(block, validate_params(block, raw, self.ctx), i))

    @property
    def per_fold(self) -> bool:
        """Whether some block must be computed inside each split."""
        return any(s.block.per_fold for s in self.steps)

    def __bool__(self) -> bool:
        return bool(self.steps)

    def derived_from(self, column: str) -> list[str]:
        """Created columns computed from ``column``, directly or through other created columns.

        >>> p = FeaturePlan([{"block": "count_encode", "columns": ["c"]}, {"block": "expr", "name": "e", "sql": "cnt_c + 1"}])
        >>> _ = p.static(pl.DataFrame({"id": [1], "c": [5]}), pl.DataFrame({"id": [2], "c": [5]}))
        >>> p.derived_from("c")
        ['cnt_c', 'e']
        """
        reads = {s.index: _referenced(s) for s in self.steps}
        found: list[str] = []
        frontier = {column}
        while frontier:
            new = [c for c, i in self.sources.items() if c not in found and reads[i] & (frontier | set(found) | {column})]
            found += new
            frontier = set(new)
        return found

    def _add(self, new: pl.DataFrame, have: list[str], step: Step) -> list[str]:
        """The names of ``new``'s columns, refusing any that already exist."""
        for c in new.columns:
            if c in have:
                raise ConfigError(self.ctx.where(), expected="new column names", found=f"'{c}' exists already",
                                  fix="rename it (e.g. 'name:'/'prefix:') or drop the duplicate block")
        return new.columns

    def static(self, train: pl.DataFrame, test: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
        """Run the fold-independent blocks on train+test stacked; return both frames and the new columns.

        The target columns are removed before any block sees the rows.
        """
        ctx = self.ctx
        frame = pl.concat(
            [train.drop([c for c in ctx.target if c in train.columns]).with_columns(pl.lit(0, pl.Int8).alias(PART)),
             test.with_columns(pl.lit(1, pl.Int8).alias(PART))],
            how="diagonal_relaxed",
        )
        new_cols: list[str] = []
        self.cache_hits, self.cache_misses = [], []
        self._digests: dict[str, str] = {}  # input column -> content digest; columns never change within static()
        for step in self.steps:
            if step.block.per_fold:
                continue
            ctx.index = step.index
            available = [c for c in frame.columns if c != PART]
            check_columns(step.params, available, ctx)
            key = self._cache_key(step, frame)
            out = self._cache_read(key)
            if out is None:
                out = step.block.fn(frame, step.params, ctx)
                if out.height != frame.height:
                    raise DataError(ctx.where(), expected=f"{frame.height} rows from block '{step.block.name}'", found=f"{out.height}")
                self._cache_write(key, out)
                if key is not None:
                    self.cache_misses.append(step.index)
            else:
                self.cache_hits.append(step.index)
            out = self._encode(out)
            cols = self._add(out, available, step)
            self.columns.update({c: step.block.name for c in cols})
            self.sources.update({c: step.index for c in cols})
            new_cols += cols
            frame = frame.hstack(out)
        self._ready = [c for c in frame.columns if c != PART] + list(ctx.target)
        for step in self.steps:  # per-fold blocks: fail on a bad column now, before any model is fitted
            if step.block.per_fold:
                ctx.index = step.index
                check_columns(step.params, [c for c in self._ready if c not in ctx.target], ctx)
        if not new_cols:
            return train, test, []
        # frame is train's rows then test's, and every block keeps that order: zero-copy slices, not a
        # boolean filter that would copy every new column once more
        added = frame.select(new_cols)
        return train.hstack(added.slice(0, train.height)), test.hstack(added.slice(train.height)), new_cols

    # ------------------------------------------------------------------ cache
    def _cache_key(self, step: Step, frame: pl.DataFrame) -> str | None:
        """Content key of a static block's output: its name and parameters, the exact values of the
        columns it reads (and of tables, runs or code it reads), the row layout and the Polars version.

        Keyed by inputs rather than by position in the list, so editing one block recomputes that
        block and those reading its columns, and nothing else. None: not cached.
        """
        ctx = self.ctx
        if ctx.cache_dir is None:
            return None
        p, name = step.params, step.block.name
        extra: dict[str, Any] = {}
        if name == "custom":
            if not getattr(p, "cache", False):
                return None
            inputs = [c for c in frame.columns if c != PART]
            fn = _resolve(p.function)
            if fn is None:
                return None
            try:
                extra["code"] = hashlib.sha256(inspect.getsource(inspect.getmodule(fn)).encode()).hexdigest()
            except (OSError, TypeError):
                return None
        elif name == "expr":
            try:
                inputs = pl.sql_expr(p.sql).meta.root_names()
            except Exception:  # the block itself reports the bad expression
                return None
        else:
            inputs = []
            for fname in type(p).columns_fields:
                v = getattr(p, fname)
                if v is not None:
                    for item in ([v] if isinstance(v, str) else v):
                        inputs += [item] if isinstance(item, str) else list(item)
            if name == "lag" and ctx.time:
                inputs.append(ctx.time)
        if name == "join":
            path = Path(p.path) if Path(p.path).is_absolute() else ctx.root / p.path
            if not path.is_file():
                return None
            extra["table"] = _file_digest(path)
        if name == "oof_feature":
            if ctx.ws is None:
                return None
            run_dir = ctx.ws.runs_dir / p.run
            files = [run_dir / "oof.parquet", run_dir / "test.parquet", run_dir / "run.json"]
            if not all(f.is_file() for f in files):
                return None  # the block reports the missing run
            extra["run"] = [_file_digest(f) for f in files]
            extra["folds"] = ctx.folds_hash
            inputs.append(ctx.id)
        inputs = [c for c in dict.fromkeys([*inputs, PART]) if c in frame.columns]
        spec = {
            "v": CACHE_VERSION, "polars": pl.__version__, "block": name, "params": p.model_dump(mode="json"),
            "rows": frame.height, "inputs": {c: str(frame.schema[c]) for c in inputs},
            "categories": {c: ctx.categories[c] for c in inputs if c in ctx.categories}, "extra": extra,
        }
        h = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode())
        for c in inputs:
            h.update(self._column_digest(frame, c).encode())
        return h.hexdigest()[:32]

    def _column_digest(self, frame: pl.DataFrame, column: str) -> str:
        """sha256 of a column's row hashes, computed once per static() call (blocks share key columns)."""
        got = self._digests.get(column)
        if got is None:
            series = frame.get_column(column)
            got = hashlib.sha256(series.hash(seed=0).to_numpy().tobytes()).hexdigest()
            self._digests[column] = got
        return got

    def _cache_read(self, key: str | None) -> pl.DataFrame | None:
        if key is None:
            return None
        path = self.ctx.cache_dir / f"{key}.parquet"
        if not path.is_file():
            return None
        try:
            return pl.read_parquet(path)
        except Exception:  # a damaged entry is recomputed, never trusted
            log.warning("feature cache entry %s is unreadable; recomputing it", path)
            return None

    def _cache_write(self, key: str | None, out: pl.DataFrame) -> None:
        if key is None:
            return
        from medalist.core.io import atomic_write

        try:
            self.ctx.cache_dir.mkdir(parents=True, exist_ok=True)
            atomic_write(self.ctx.cache_dir / f"{key}.parquet", lambda p: out.write_parquet(p, compression="lz4"), durable=False)
        except OSError as e:  # a full disk must not fail the run: the cache is an optimisation
            log.warning("could not write the feature cache (%s); continuing without it", e)

    def _encode(self, out: pl.DataFrame) -> pl.DataFrame:
        """Text columns (joins, custom code) become category codes, like data.prepare does."""
        for c in out.columns:
            s = out.get_column(c)
            if s.dtype == pl.Boolean:
                out = out.with_columns(s.cast(pl.Int8))
            elif s.dtype in (pl.String, pl.Categorical) or isinstance(s.dtype, pl.Enum):
                cats = sorted(s.cast(pl.String).drop_nulls().unique().to_list())
                self.ctx.categories[c] = cats
                lut = pl.DataFrame({c: cats, "__code": np.arange(len(cats), dtype=np.int32)}, schema={c: pl.String, "__code": pl.Int32})
                out = out.with_columns(pl.DataFrame({c: s.cast(pl.String)}).join(lut, on=c, how="left", maintain_order="left")
                                       .get_column("__code").alias(c))
                self.categorical.append(c)
            elif not (s.dtype.is_numeric()):
                out = out.with_columns(s.to_physical().cast(pl.Int64) if s.dtype.is_temporal() else s)
        return out

    def for_split(self, train: pl.DataFrame, valid: pl.DataFrame, test: pl.DataFrame,
                  inner: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[str]]:
        """Run the per-fold blocks for one split; ``inner`` is each train row's fold label.

        Statistics come from ``train`` rows only; train rows get inner-fold (OOF-style) values.
        """
        new_cols: list[str] = []
        for step in self.steps:
            if not step.block.per_fold:
                continue
            self.ctx.index = step.index
            if self._ready is None:
                check_columns(step.params, [c for c in train.columns if c not in self.ctx.target], self.ctx)
            a, b, c = step.block.fn(train, valid, test, step.params, self.ctx, inner)
            self._add(a, train.columns, step)
            self.columns.update({col: step.block.name for col in a.columns})
            self.sources.update({col: step.index for col in a.columns})
            train, valid, test = train.hstack(a), valid.hstack(b), test.hstack(c)
            new_cols += a.columns
        return train, valid, test, new_cols


def _referenced(step: Step) -> set[str]:
    """Every string in a block's parameters (and the columns an expr reads): what it may depend on."""
    if step.block.name == "expr":
        try:
            return set(pl.sql_expr(step.params.sql).meta.root_names())
        except Exception:
            return set()
    out: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, str):
            out.add(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)

    walk(step.params.model_dump())
    return out


def _resolve(dotted: str):
    from medalist.core.safety import check_dotted

    try:
        mod, attr = check_dotted(dotted, where="custom")
        return getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError, ValueError, ConfigError):
        return None  # the block itself reports it


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_plan(specs: list[dict[str, Any]], data, *, source: str, ws=None, folds_hash: str | None = None,
               root: Path | None = None, cache: bool = True) -> FeaturePlan:
    """A plan for ``data`` (a :class:`~medalist.workspace.data.CompetitionData`) in workspace ``ws``."""
    ctx = FeatureContext(
        source=source, id=data.id, target=list(data.target), task=data.task, classes=data.classes,
        time=ws.competition.time if ws is not None else None, categories=dict(data.categories),
        root=root or (ws.root if ws is not None else Path(".")), ws=ws, folds_hash=folds_hash,
        cache_dir=ws.root / ".medalist" / "cache" / "features" if ws is not None and cache else None,
    )
    return FeaturePlan(specs, ctx)


def apply_static(plan: FeaturePlan, data):
    """``data`` with the plan's static features added to its frames, features and categorical lists."""
    if not plan:
        return data
    train, test, cols = plan.static(data.train, data.test)
    return replace(data, train=train, test=test, features=[*data.features, *cols],
                   categorical=[*data.categorical, *[c for c in cols if c in plan.categorical]],
                   categories={**data.categories, **{c: plan.ctx.categories[c] for c in plan.categorical}})


def describe_features(ws, config_path: Path, overrides: list[str] | None = None, *, run: str | None = None) -> pl.DataFrame:
    """Materialize an experiment's features on the workspace data; one summary row per new column.

    Static features are summarized over train+test; per-fold ones over train rows encoded out-of-fold
    with the saved folds (what a full-data refit trains on). ``gain`` (mean split gain over folds and
    seeds) and its rank come from ``run``'s importance; by default from the latest finished run of
    this config file, when there is one.

    >>> describe_features(Workspace.find(), Path("configs/fe.yaml"))  # doctest: +SKIP
    """
    from medalist.core.config import load_experiment
    from medalist.workspace.data import load_competition_data
    from medalist.workspace.folds import Folds

    exp, _ = load_experiment(Path(config_path), overrides)
    data = load_competition_data(ws, exp.columns, weight=exp.weight)
    folds = Folds.load(ws.folds_path) if ws.folds_path.is_file() else None
    plan = build_plan(exp.features, data, source=str(config_path), ws=ws, folds_hash=folds.hash if folds else None)
    data = apply_static(plan, data)
    static_cols = [c for c in plan.columns if c in data.train.columns]
    values = {c: pl.concat([data.train.get_column(c), data.test.get_column(c)]) for c in static_cols}
    if plan.per_fold and folds is not None:
        labels = fold_labels(folds, data.train)
        tr, _, _, cols = plan.for_split(data.train, data.train.clear(), data.test, labels[min(labels)])
        values.update({c: tr.get_column(c) for c in cols})
    rows = []
    for c, s in values.items():
        block = plan.columns[c]
        nulls = s.null_count() + (int(s.is_nan().sum()) if s.dtype.is_float() else 0)
        num = s.cast(pl.Float64).fill_nan(None) if s.dtype.is_numeric() else None
        rows.append({"name": c, "block": block, "scope": "per-fold" if FEATURES.get(block).per_fold else "static",
                     "dtype": str(s.dtype), "nulls %": round(100.0 * nulls / max(len(s), 1), 2),
                     "mean": num.mean() if num is not None and num.null_count() < len(num) else None})
    out = pl.DataFrame(rows, schema={"name": pl.String, "block": pl.String, "scope": pl.String, "dtype": pl.String,
                                     "nulls %": pl.Float64, "mean": pl.Float64})
    imp = _run_importance(ws, Path(config_path), run)
    if imp is not None:
        out = out.join(imp, on="name", how="left", maintain_order="left")
    return out


def _run_importance(ws, config_path: Path, run: str | None) -> pl.DataFrame | None:
    """``name, gain, gain rank`` (rank among all the run's features) of ``run`` or of the config's latest run."""
    from medalist.runs.store import Run, list_runs

    if run is not None:
        r = Run.open(ws, run)
    else:
        want = {str(config_path), str(config_path.resolve())}
        done = [r for r in list_runs(ws) if r.status == "done" and (r.record.config in want
                or str((ws.root / str(r.record.config or "")).resolve()) in want)]
        if not done:
            return None
        r = done[-1]
    imp = r.importance()
    if imp is None:
        return None
    imp = imp.sort("gain", descending=True).with_row_index("gain rank", offset=1)
    return imp.select(pl.col("feature").alias("name"), pl.col("gain"), pl.col("gain rank").cast(pl.Int64),
                      pl.lit(r.id).alias("run"))


def fold_labels(folds, train: pl.DataFrame) -> dict[int, np.ndarray]:
    """Per repeat, the fold of each train row (-1: never validated) — the inner folds of per-fold blocks."""
    out: dict[int, np.ndarray] = {}
    for s in folds.splits(train):
        out.setdefault(s.repeat, np.full(train.height, -1, dtype=np.int64))[s.valid_idx] = s.fold
    return out
