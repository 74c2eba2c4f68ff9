"""CLI commands for image and signal models: ``medalist sanity CONFIG`` (overfit one batch)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

    @app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
    def sanity(
        config: Annotated[Path, typer.Argument(help="Image or signal experiment YAML (model: timm_image or signal).")],
        overrides: Annotated[Optional[list[str]], typer.Argument(help="Dotted overrides: model.params.lr=1e-3")] = None,
        steps: Annotated[int, typer.Option(help="Optimizer steps on the one batch.")] = 50,
        batch: Annotated[Optional[int], typer.Option(help="Rows in the batch (default: min(batch_size, 16)); 1 overfits one image.")] = None,
        max_ratio: Annotated[float, typer.Option("--max-ratio", help="Fail unless the final loss is below this fraction of the first.")] = 0.5,
        lr: Annotated[Optional[float], typer.Option(help="Learning rate (default: the config's head LR).")] = None,
    ) -> None:
        """Overfit one batch through the real image or signal pipeline; fail loudly when the loss does not drop."""
        # heavy libraries are imported here, not at the top, so `medalist --help` stays fast.
        from medalist.cli._shared import console
        from medalist.cli._shared import workspace as _ws
        from medalist.core.config import load_experiment
        from medalist.vision.sanity import overfit_one_batch

        if load_experiment(Path(config), overrides or [])[0].model.name == "signal":
            from medalist.signal.sanity import overfit_one_signal_batch as overfit_one_batch  # noqa: F811

        def on_step(i: int, loss: float) -> None:
            if i == 0 or (i + 1) % 10 == 0 or i + 1 == steps:
                console.print(f"step {i + 1:4d}  loss {loss:.5f}")

        res = overfit_one_batch(_ws(), config, overrides or [], steps=steps, batch_size=batch, max_ratio=max_ratio,
                                lr=lr, on_step=on_step)
        console.print(f"[bold green]ok[/]: loss on one batch of {res['rows']} rows fell {res['first']:.4f} -> "
                      f"{res['last']:.4f} ({res['ratio']:.1%} of start) in {len(res['losses'])} steps")
