"""The worst OOF images of a detection run, with their boxes drawn (truth green, prediction red)."""

from __future__ import annotations

import json

import numpy as np

from medalist.report.plots import Figs, pyplot
from medalist.report.render import Markup
from medalist.runs.store import Run

__all__ = ["N_WORST", "SCORE", "boxes_section"]

N_WORST = 6
SCORE = 0.3  # predicted boxes drawn and counted from this score up


def _f1(pred: np.ndarray, truth: np.ndarray) -> float:
    from medalist.postprocess.assign import match_boxes

    if not len(pred) and not len(truth):
        return 1.0
    hits = len(match_boxes(pred, truth, min_iou=0.5)) if len(pred) and len(truth) else 0
    return 2 * hits / (len(pred) + len(truth))


def _xyxy(frame) -> np.ndarray:
    xy = frame.select("x", "y", "w", "h").to_numpy() if frame is not None else np.zeros((0, 4))
    return np.c_[xy[:, :2], xy[:, :2] + xy[:, 2:]]


def boxes_section(ws, run: Run, figs: Figs) -> Markup:
    """Per-image F1 of the OOF boxes (score >= ``SCORE``, IoU >= 0.5); the ``N_WORST`` lowest drawn with
    both sets of boxes. Empty markup for runs that are not ``model: detection`` (or hold no stored boxes)."""
    parts = sorted((run.path / "models").glob("r*_f*/boxes.parquet"))
    if str(run.record.model) != "detection" or not parts:
        return Markup("")
    import polars as pl
    from PIL import Image

    from medalist.vision.detection_model import run_boxes

    params = json.loads((parts[0].parent / "model.json").read_text())["params"]
    id_col = params.get("id_col", "id")
    oof = run_boxes(run, id_col)["oof"].filter(pl.col("score") >= SCORE)
    truth = pl.read_csv(ws.root / params["boxes"]) if str(params["boxes"]).endswith(".csv") else pl.read_parquet(ws.root / params["boxes"])
    truth = truth.with_columns(pl.col("image_id").cast(pl.String))
    ids = sorted(set(run.oof().get_column(id_col).cast(pl.String).to_list()))
    pg, tg = ({k[0]: g for k, g in f.group_by("image_id")} for f in (oof, truth))
    f1 = np.array([_f1(_xyxy(pg.get(i)), _xyxy(tg.get(i))) for i in ids])
    worst = np.argsort(f1, kind="stable")[:N_WORST]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(worst), figsize=(2.0 * len(worst), 2.3), squeeze=False)
    dirs = [ws.root / d for d in params["images"].get("dirs", ["."])]
    for ax, k in zip(axes[0], worst):
        name = params["images"]["pattern"].format(**{id_col: ids[k]})
        path = next((d / name for d in dirs if (d / name).is_file()), None)
        if path is not None:
            ax.imshow(np.asarray(Image.open(path).convert("L")), cmap="gray")
        for frame, color in ((tg.get(ids[k]), "lime"), (pg.get(ids[k]), "red")):
            for x1, y1, x2, y2 in _xyxy(frame):
                ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color, linewidth=1.0))
        ax.set_title(f"{ids[k][-12:]}\nF1 {f1[k]:.2f}", fontsize=7)
        ax.axis("off")
    caption = (f"The {len(worst)} OOF images with the lowest box F1 (boxes scored >= {SCORE}, matched at IoU 0.5; mean "
               f"{f1.mean():.3f} over {len(f1)} images): true boxes green, predicted red.")
    return figs.svg(fig, f"{run.id}-worst-boxes", caption)
