"""``medalist list``: the registered models, metrics and feature blocks."""

from __future__ import annotations

from typing import Annotated

import typer

from medalist.cli._shared import console
from medalist.core.errors import did_you_mean


def list_cmd(kind: Annotated[str, typer.Argument(help="models, metrics or blocks")]) -> None:
    """List registered models, metrics or feature blocks."""
    from medalist.core.errors import ConfigError

    if kind in ("model", "models"):
        from medalist.models import MODELS

        names = MODELS.names()
    elif kind in ("metric", "metrics"):
        from medalist.metrics.library import list_metrics

        names = list_metrics()
    elif kind in ("block", "blocks", "features"):
        from medalist.features import list_blocks

        names = list_blocks()
    else:
        raise ConfigError(f"list {kind}", expected="models, metrics or blocks",
                          found=f"{kind!r}{did_you_mean(kind, ['models', 'metrics', 'blocks'])}", fix="run e.g. `medalist list models`")
    for n in names:
        console.print(n)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("list")(list_cmd)
