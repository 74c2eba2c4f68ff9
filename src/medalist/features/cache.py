"""The Parquet cache of static feature blocks, keyed by the content of what each block reads.

Keyed by inputs rather than by position in the features list, so editing one block recomputes that
block and those reading its columns, and nothing else. The cache is an optimisation: a damaged entry
is recomputed, and a failed write only logs.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from medalist.core.errors import ConfigError
from medalist.features.base import PART, FeatureContext

if TYPE_CHECKING:
    from medalist.features.steps import Step

__all__ = ["CACHE_VERSION", "FeatureCache"]

log = logging.getLogger("medalist.features")

# Bump when a block's output for the same inputs changes, so old cache entries are not reused.
CACHE_VERSION = 1


class FeatureCache:
    """Read and write cached block outputs for one ``static()`` call under ``ctx.cache_dir``."""

    def __init__(self, ctx: FeatureContext) -> None:
        self.ctx = ctx
        self._digests: dict[str, str] = {}  # input column -> content digest; columns never change within static()

    def key(self, step: Step, frame: pl.DataFrame) -> str | None:
        """Content key of a static block's output: its name and parameters, the exact values of the
        columns it reads (and of tables, runs or code it reads), the row layout and the Polars version.

        None: not cached.
        """
        ctx = self.ctx
        if ctx.cache_dir is None:
            return None
        got = _declared_inputs(step, frame, ctx)
        if got is None:
            return None
        inputs, extra = got
        inputs = [c for c in dict.fromkeys([*inputs, PART]) if c in frame.columns]
        spec = {
            "v": CACHE_VERSION, "polars": pl.__version__, "block": step.block.name,
            "params": step.params.model_dump(mode="json"),
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

    def read(self, key: str | None) -> pl.DataFrame | None:
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

    def write(self, key: str | None, out: pl.DataFrame) -> None:
        if key is None:
            return
        from medalist.core.io import atomic_write

        try:
            self.ctx.cache_dir.mkdir(parents=True, exist_ok=True)
            atomic_write(self.ctx.cache_dir / f"{key}.parquet", lambda p: out.write_parquet(p, compression="lz4"), durable=False)
        except OSError as e:  # a full disk must not fail the run: the cache is an optimisation
            log.warning("could not write the feature cache (%s); continuing without it", e)


def _declared_inputs(step: Step, frame: pl.DataFrame, ctx: FeatureContext) -> tuple[list[str], dict[str, Any]] | None:
    """The columns a block reads and the digests of whatever else it reads; None: not cacheable."""
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
        inputs = _column_params(step)
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
    return inputs, extra


def _column_params(step: Step) -> list[str]:
    """Every column named in the block's column-typed parameters (single names, lists, lists of keys)."""
    p = step.params
    inputs: list[str] = []
    for fname in type(p).columns_fields:
        v = getattr(p, fname)
        if v is not None:
            for item in ([v] if isinstance(v, str) else v):
                inputs += [item] if isinstance(item, str) else list(item)
    return inputs


def _resolve(dotted: str):
    from medalist.core.safety import check_dotted, import_checked

    try:  # an untrusted module is not imported to hash it: the block refuses it
        mod, attr = check_dotted(dotted, where="custom", kind="feature")
        return getattr(import_checked(mod), attr)
    except (ImportError, AttributeError, ValueError, ConfigError):
        return None  # the block itself reports it


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
