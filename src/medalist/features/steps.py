"""Planning: an experiment's ``features:`` specs validated into steps, and the lineage between them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from medalist.core.errors import ConfigError
from medalist.features.base import (
    FEATURES,
    Block,
    FeatureContext,
    Params,
    validate_params,
)

__all__ = ["Step", "parse_steps", "referenced", "derived_from"]


@dataclass
class Step:
    """One validated block of the features list and its position there."""

    block: Block
    params: Params
    index: int


def parse_steps(specs: list[dict[str, Any]] | None, ctx: FeatureContext) -> list[Step]:
    """Each ``{block: NAME, ...}`` spec as a step with validated parameters; errors name the spec."""
    steps: list[Step] = []
    for i, spec in enumerate(specs or []):
        ctx.index = i
        if not isinstance(spec, dict) or "block" not in spec:
            raise ConfigError(ctx.where(), expected="a mapping with 'block: NAME' and its parameters",
                              found=repr(spec), fix="write e.g. '- {block: group_agg, columns: [age], by: [[clinic]]}'")
        raw = dict(spec)
        name = raw.pop("block")
        try:
            block = FEATURES.get(str(name))
        except ConfigError as e:
            raise e.within(ctx.where("block")) from None
        steps.append(Step(block, validate_params(block, raw, ctx), i))
    return steps


def derived_from(steps: list[Step], sources: dict[str, int], column: str) -> list[str]:
    """Created columns (``sources``: column -> index of the step that made it) computed from ``column``,
    directly or through other created columns."""
    reads = {s.index: referenced(s) for s in steps}
    found: list[str] = []
    frontier = {column}
    while frontier:
        new = [c for c, i in sources.items() if c not in found and reads[i] & (frontier | set(found) | {column})]
        found += new
        frontier = set(new)
    return found


def referenced(step: Step) -> set[str]:
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
