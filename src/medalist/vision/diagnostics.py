"""What an image fit leaves for a human to look at: a tile of augmented training inputs (finds
augmentation bugs), the worst validation predictions, and the per-epoch history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

__all__ = ["sample_grid", "worst_predictions", "save_diagnostics"]


def sample_grid(ds: Any, n: int) -> np.ndarray | None:
    """A tile of the first ``n`` augmented training inputs (finds augmentation bugs)."""
    if n <= 0 or len(ds) == 0:
        return None
    imgs = [ds[i]["image"].numpy().transpose(1, 2, 0) for i in range(min(n, len(ds)))]
    h, w, c = imgs[0].shape
    cols = int(np.ceil(np.sqrt(len(imgs))))
    rows = int(np.ceil(len(imgs) / cols))
    grid = np.zeros((rows * h, cols * w, c), dtype=np.uint8)
    for k, im in enumerate(imgs):
        r, q = divmod(k, cols)
        grid[r * h:(r + 1) * h, q * w:(q + 1) * w] = np.clip(im, 0, 255).astype(np.uint8)
    return grid


def worst_predictions(last: dict[str, np.ndarray], valid: pl.DataFrame | None, describe: Any, n: int) -> pl.DataFrame | None:
    """The ``n`` validation rows with the largest loss in the last epoch."""
    if not last or valid is None or n <= 0:
        return None
    order = np.argsort(-last["loss"])[:n]
    pred = last["pred"]
    return pl.DataFrame({
        "row": last["index"][order].astype(np.int64),
        "image": [describe("valid", int(i)) for i in last["index"][order]],
        "loss": last["loss"][order].astype(np.float64),
        "pred": [str(np.round(pred[i], 4).tolist()) for i in order],
    })


def save_diagnostics(model: Any, path: Path) -> None:
    """Write the model's sample grid, worst predictions and history (those it has) under ``path``."""
    grid = getattr(model, "sample_grid_", None)
    if grid is not None:
        from PIL import Image

        Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid[..., :3]).save(path / "augmented_samples.png")
    worst = getattr(model, "worst_", None)
    if worst is not None and worst.height:
        worst.write_csv(path / "worst_predictions.csv")
    if getattr(model, "history_", None):
        pl.DataFrame(model.history_).write_csv(path / "history.csv")
