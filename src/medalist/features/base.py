"""The feature-block mechanism: the FEATURES registry, typed block parameters and the block context.

A block is a small function registered by name with a pydantic model of its parameters. Static
blocks see train and test stacked into one frame *without the target* (so they cannot leak it);
per-fold blocks (``per_fold=True``) get one split's train rows with the target and must compute
every statistic from those rows only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ValidationError

from medalist.core.config import Strict
from medalist.core.errors import ConfigError, did_you_mean
from medalist.core.registry import Registry

__all__ = [
    "FEATURES", "Block", "Params", "FeatureContext", "register_block", "list_blocks", "get_block", "key_name", "as_keys", "PART",
    "validate_params", "check_columns", "register_exprs",
]

# Marks test rows (1) vs train rows (0) in the stacked frame static blocks receive.
PART = "__part"


class Params(Strict):
    """Base of every block's parameters. ``columns_fields`` names the fields that hold column names."""

    columns_fields: ClassVar[tuple[str, ...]] = ()


@dataclass(frozen=True)
class Block:
    """A registered block: its function, parameter model and whether it runs inside each fold.

    ``exprs`` (optional, static blocks): the block as Polars expressions,
    ``exprs(schema, params, ctx, shared) -> list[pl.Expr] | None``, each aliased to an output column,
    in the order of ``fn``'s columns, with the same values. ``shared(expr)`` returns a column holding
    ``expr`` computed once per plan (a window statistic several outputs or blocks use). ``None``:
    not expressible for these inputs (``fn`` runs). Consecutive such blocks run as one lazy query.
    """

    name: str
    params: type[Params]
    fn: Callable[..., Any]
    per_fold: bool = False
    exprs: Callable[..., Any] | None = None


FEATURES: Registry[Block] = Registry("feature block")


def register_block(name: str, params: type[Params], *, per_fold: bool = False):
    """Register a block function under ``name`` (a decorator).

    >>> class NoParams(Params): pass
    >>> @register_block("toy_ones", NoParams)
    ... def toy_ones(frame, p, ctx): return pl.DataFrame({"ones": [1] * frame.height})
    >>> FEATURES.get("toy_ones").per_fold
    False
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        FEATURES.register(name, Block(name, params, fn, per_fold))
        return fn

    return deco


def register_exprs(name: str):
    """Attach a Polars-expression form (see :class:`Block`) to the registered static block ``name``
    (a decorator); the features of consecutive such blocks are then computed in one lazy query."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        block = FEATURES.get(name)
        FEATURES.register(name, Block(block.name, block.params, block.fn, block.per_fold, fn), overwrite=True)
        return fn

    return deco


def list_blocks() -> list[str]:
    """Names of the registered feature blocks.

    >>> "group_agg" in list_blocks()
    True
    """
    return FEATURES.names()


def get_block(name: str) -> Block:
    """The registered block ``name`` (ConfigError with a did-you-mean if unknown)."""
    return FEATURES.get(name)


@dataclass
class FeatureContext:
    """What blocks may know besides the rows: names, the workspace, the folds hash, where errors point."""

    source: str = "features"  # config file, for error messages
    id: str = "id"
    target: list[str] = field(default_factory=list)
    task: str = "binary"
    classes: list | None = None
    time: str | None = None
    categories: dict[str, list] = field(default_factory=dict)  # code -> label of categorical columns
    root: Path = Path(".")  # relative paths (join tables) start here
    ws: Any = None  # medalist.workspace.paths.Workspace, for blocks that read other runs
    folds_hash: str | None = None
    cache_dir: Path | None = None  # Parquet cache of static block outputs; None: no cache
    index: int = 0  # position of the block being run in the features list

    def where(self, param: str | None = None) -> str:
        return f"{self.source}: features[{self.index}]" + (f".{param}" if param else "")


def as_keys(value: str | list[str]) -> list[str]:
    """A key given as one column or a list of columns, as a list.

    >>> as_keys("patient"), as_keys(["patient", "site"])
    (['patient'], ['patient', 'site'])
    """
    return [value] if isinstance(value, str) else list(value)


def key_name(cols: list[str]) -> str:
    """Deterministic, identifier-like name part for a list of columns.

    >>> key_name(["clinic name", "age"])
    'clinic_name_age'
    """
    return "_".join(re.sub(r"\W+", "_", str(c)).strip("_") or "col" for c in cols)


def validate_params(block: Block, raw: dict[str, Any], ctx: FeatureContext) -> Params:
    """Validate one block's parameters; errors name ``features[i].param`` with a did-you-mean."""
    try:
        return block.params.model_validate(raw)
    except ValidationError as e:
        # a misspelt key also shows up as a missing one: report the misspelling, it is the cause
        err = next((x for x in e.errors() if x["type"] == "extra_forbidden"), e.errors()[0])
        loc = [str(p) for p in err["loc"] if not isinstance(p, int)]
        # pydantic adds union branch names ('str', 'list[str]') to the location; keep the field only
        param = loc[0] if loc else None
        fields = list(block.params.model_fields)
        if err["type"] == "extra_forbidden":
            raise ConfigError(
                ctx.where(param), expected=f"a parameter of block '{block.name}': one of {', '.join(fields)}",
                found=f"unknown parameter '{param}'{did_you_mean(str(param), fields)}", fix="rename or remove it",
            ) from None
        if err["type"] == "missing":
            raise ConfigError(ctx.where(param), expected="a value", found="nothing", fix=f"add '{param}:' to the block")
        raise ConfigError(
            ctx.where(param), expected=err["msg"].replace("Input should be", "").replace("Value error, ", "").strip(),
            found=repr(err.get("input")), fix=f"give '{param}' a value of that kind",
        ) from None


def check_columns(p: Params, available: list[str], ctx: FeatureContext) -> None:
    """Every column a block names must exist; the target never reaches a static block."""
    for fname in type(p).columns_fields:
        value = getattr(p, fname)
        if value is None:
            continue
        items = [value] if isinstance(value, str) else value
        for item in items:
            for c in as_keys(item):
                if c in ctx.target:
                    raise ConfigError(
                        ctx.where(fname), expected="a feature or key column",
                        found=f"the target '{c}' (a static block over train+test would leak it)",
                        fix="use block target_encode, which is computed inside each fold",
                    )
                if c not in available:
                    raise ConfigError(
                        ctx.where(fname), expected="a column of train/test or one made by an earlier block",
                        found=f"no column '{c}'{did_you_mean(c, available)}",
                        fix="fix the name; group/time columns and features of the experiment are available",
                    )
