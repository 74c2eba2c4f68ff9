"""The worst OOF masks of a segmentation run, drawn over their images (truth green, prediction red)."""

from __future__ import annotations

import numpy as np

from medalist.report.plots import Figs, pyplot
from medalist.report.render import Markup
from medalist.runs.store import Run

__all__ = ["N_WORST", "masks_section"]

N_WORST = 6


def masks_section(ws, run: Run, figs: Figs) -> Markup:
    """Per-image dice at 0.5 of the OOF masks; the ``N_WORST`` lowest drawn with both contours. Empty
    markup for runs that are not ``model: segmentation`` (or hold no stored masks)."""
    if str(run.record.model) != "segmentation" or not any((run.path / "models").glob("r*_f*/masks.npz")):
        return Markup("")
    from medalist.postprocess.masks import binarize, dice_per_image
    from medalist.vision.gating import _resize, oof_truth

    o = oof_truth(ws, run)
    if not len(o["ids"]):
        return Markup("")
    dice = dice_per_image(o["truth"], binarize(o["oof"], 0.5))
    worst = np.argsort(dice, kind="stable")[:N_WORST]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(worst), figsize=(2.0 * len(worst), 2.3), squeeze=False)
    size = o["oof"].shape[1:]
    for ax, i in zip(axes[0], worst):
        img = o["source"].read(o["images"][i])
        img = _resize(np.asarray(img[:, :, 0] if img.ndim == 3 else img, dtype=np.uint8), size, nearest=False)
        ax.imshow(img, cmap="gray")
        for m, color in ((o["truth"][i], "lime"), (o["oof"][i] >= 128, "red")):
            if np.asarray(m).any():
                ax.contour(np.asarray(m, dtype=float), levels=[0.5], colors=color, linewidths=1.0)
        ax.set_title(f"{str(o['ids'][i])[-12:]}\ndice {dice[i]:.2f}", fontsize=7)
        ax.axis("off")
    caption = (f"The {len(worst)} OOF images with the lowest dice at threshold 0.5 (mean per-image dice {dice.mean():.3f} "
               f"over {len(dice)} images; an empty prediction on an empty mask scores 1): true mask green, predicted red.")
    return figs.svg(fig, f"{run.id}-worst-masks", caption)
