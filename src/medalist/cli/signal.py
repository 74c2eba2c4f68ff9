"""CLI commands for signal models: ``medalist signal-preview CONFIG`` (front-end images of a few rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from medalist.cli._shared import print_json


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

    @app.command("signal-preview")
    def signal_preview(
        config: Annotated[Path, typer.Argument(help="Signal experiment YAML (model: signal).")],
        overrides: Annotated[Optional[list[str]], typer.Argument(help="Dotted overrides: model.params.length=2000")] = None,
        rows: Annotated[int, typer.Option(help="Training signals to show.")] = 4,
        out: Annotated[Path, typer.Option(help="PNG grid to write (rows × branches).")] = Path("signal_preview.png"),
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    ) -> None:
        """Show what each branch's front-end makes of the first training signals (shapes, ranges, a PNG grid)."""
        # torch is imported here, not at the top, so `medalist --help` stays fast.

        from medalist.cli._shared import console
        from medalist.cli._shared import workspace as _ws
        from medalist.signal.preview import preview_frontends

        info = preview_frontends(_ws(), config, overrides or [], rows=rows, out=out)
        if as_json:
            print_json(info)
            return
        console.print(f"{info['rows']} signals of shape {info['signal_shape']} (channels, samples)")
        for b in info["branches"]:
            console.print(f"  {b['name']:<12} {b['input']:<8} -> {b['net']:<6} shape {b['shape']}  "
                          f"range [{b['min']:.3g}, {b['max']:.3g}]")
        if "png" in info:
            console.print(f"grid: {info['png']}")
