"""``medalist list``: the names registered for each kind of component (see docs/extending.md)."""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from medalist.cli._shared import console
from medalist.core.errors import did_you_mean

# kind -> (module, function listing its names); singular and plural spellings both work
KINDS = {
    "models": ("medalist.models", "list_models"),
    "metrics": ("medalist.metrics", "list_metrics"),
    "blocks": ("medalist.features", "list_blocks"),
    "blenders": ("medalist.ensemble.blend", "list_blenders"),
    "stackers": ("medalist.ensemble.stack", "list_stackers"),
    "generators": ("medalist.recsys.candidates", "list_generators"),
    "frontends": ("medalist.signal.config", "list_frontends"),
}
_ALIASES = {"features": "blocks", "candidates": "generators", "front-ends": "frontends", "meta": "stackers"}


def list_names(kind: str) -> list[str]:
    """The registered names of one kind (``models``, ``metrics``, ``blocks``, ``blenders``, ``stackers``,
    ``generators``, ``frontends``; singular works too).

    >>> list_names("blenders")[:3]
    ['hill-climb', 'mean', 'power']
    """
    from medalist.core.errors import ConfigError

    key = _ALIASES.get(kind, kind)
    key = key if key in KINDS else _ALIASES.get(key + "s", key + "s")
    if key not in KINDS:
        raise ConfigError(f"list {kind}", expected="models, metrics or blocks (or blenders, stackers, generators, frontends)",
                          found=f"{kind!r}{did_you_mean(kind, list(KINDS))}", fix="run e.g. `medalist list models`")
    module, fn = KINDS[key]
    return list(getattr(importlib.import_module(module), fn)())


def list_cmd(kind: Annotated[str, typer.Argument(help="models, metrics, blocks, blenders, stackers, generators or frontends")]) -> None:
    """List the registered models, metrics, feature blocks, blenders, stackers, candidate generators or signal front-ends."""
    for n in list_names(kind):
        console.print(n)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("list")(list_cmd)
