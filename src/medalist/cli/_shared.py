"""What every command module shares: the consoles, the option types, number formatting, the workspace lookup.

Command modules import this, never :mod:`medalist.cli.app` (which imports them).

>>> fmt(0.123456789), fmt(None), fmt(float("nan")), fmt(3)
('0.12346', '-', '-', '3')
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

__all__ = ["console", "err_console", "state", "JsonOpt", "ForceOpt", "fmt", "print_frame", "workspace", "train_with_progress", "print_json"]

# Piped output (CI logs, `| less`) gets a wide console so tables don't wrap into unreadable columns.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
state = {"debug": False}

# Shared option types, defined once.
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite what exists.")]


def fmt(x: Any, digits: int = 5) -> str:
    """A number for a table cell: ``digits`` decimals for floats, ``-`` for missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def print_json(obj: Any) -> None:
    """``--json`` output: one JSON object on stdout (anything JSON lacks, such as paths, as its string)."""
    import json

    print(json.dumps(obj, default=str))


def workspace():
    """The workspace containing the current directory (a clear error when there is none)."""
    from medalist.workspace.paths import Workspace

    return Workspace.find()


def print_frame(frame, title: str) -> None:
    """A Polars frame as a rich table, numbers to 4 decimals."""
    from rich.table import Table

    table = Table(title=title)
    for c in frame.columns:
        table.add_column(str(c), justify="right")
    for row in frame.iter_rows():
        table.add_row(*[fmt(v, 4) for v in row])
    console.print(table)


def train_with_progress(ws, config: Path, overrides: list[str], **kw):
    """Train ``config`` with a live per-fold progress bar on stderr (``train`` and ``demo`` share it)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from medalist.cv.runner import train as run_train

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"), console=err_console, transient=False,
    ) as progress:
        bar: dict[str, Any] = {}

        def on_event(kind: str, p: dict[str, Any]) -> None:
            if kind == "start":
                bar["task"] = progress.add_task(f"{Path(config).stem} folds", total=p["splits"], last="")
            elif kind in ("fold_done", "fold_resumed"):
                tag = " (resumed)" if kind == "fold_resumed" else ""
                progress.update(bar["task"], advance=1, last=f"fold {p['fold']}: {p['score']:.5f}{tag}")
            elif kind == "full_fit":
                progress.update(bar["task"], last="full-data refit…")
            elif kind == "warning":
                from rich.markup import escape

                err_console.print(f"[bold yellow]warning:[/] {escape(p['message'])}", highlight=False, soft_wrap=True)

        return run_train(ws, Path(config), overrides, on_event=on_event, **kw)
