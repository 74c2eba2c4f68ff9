"""What every command module shares: the consoles, the option types, number formatting, the workspace lookup.

Command modules import this, never :mod:`medalist.cli.app` (which imports them).

>>> fmt(0.123456789), fmt(None), fmt(float("nan")), fmt(3)
('0.12346', '-', '-', '3')
>>> fmt(21184376641664.0547), fmt(0.0000123456), fmt(-2.5e6, 4), fmt(0.0), fmt(123456)
('2.12e13', '1.23e-5', '-2.50e6', '0', '123456')
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
    """A number for a table cell, by magnitude: ``digits`` decimals for floats from 0.001 to a million,
    3 significant digits beyond (``2.12e13``, ``1.23e-5``), ``0`` for zero; integers as they are;
    ``-`` for missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, float):
        a = abs(x)
        if a == 0:
            return "0"
        if math.isinf(x) or 1e-3 <= a < 1e6:
            return f"{x:.{digits}f}"
        mantissa, _, exp = f"{x:.2e}".partition("e")
        return f"{mantissa}e{int(exp)}"
    return str(x)


def _integral(values: list[Any]) -> bool:
    """A float column that only holds whole numbers (counts that arrived as floats)."""
    nums = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return bool(nums) and all(isinstance(v, float) and v.is_integer() and abs(v) < 1e15 for v in nums)


def print_json(obj: Any) -> None:
    """``--json`` output: one JSON object on stdout (anything JSON lacks, such as paths, as its string)."""
    import json

    print(json.dumps(obj, default=str))


def workspace():
    """The workspace containing the current directory (a clear error when there is none)."""
    from medalist.workspace.paths import Workspace

    return Workspace.find()


def print_frame(frame, title: str) -> None:
    """A Polars frame as a rich table: numbers by magnitude (:func:`fmt`, 4 decimals), a float column of
    whole numbers (counts) as integers."""
    from rich.table import Table

    table = Table(title=title)
    as_int = {c for c in frame.columns if frame.schema[c].is_float() and _integral(frame.get_column(c).to_list())}
    for c in frame.columns:
        table.add_column(str(c), justify="right")
    for row in frame.iter_rows(named=True):
        table.add_row(*[str(int(v)) if c in as_int and v is not None and not math.isnan(v) else fmt(v, 4) for c, v in row.items()])
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
