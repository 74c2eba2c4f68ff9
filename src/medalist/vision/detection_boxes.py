"""Box tables for detection: checking, mAP (torchmetrics on pycocotools), WBF across runs, baselines.

A box table has one row per box: ``image_id, x, y, w, h, label`` (pixels, ``x, y`` the top-left
corner) and, for predictions, ``score``. Images with no row have no box.

>>> truth = pl.DataFrame({"image_id": ["a"], "x": [2.0], "y": [2.0], "w": [10.0], "h": [8.0], "label": [0]})
>>> round(mean_ap(truth.with_columns(score=pl.lit(0.9)), truth)["map"], 3)
1.0
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from medalist.core.errors import DataError

__all__ = ["BOX_COLS", "centre_baseline", "check_boxes", "fuse_boxes", "image_scores", "mean_ap"]

BOX_COLS = ("image_id", "x", "y", "w", "h", "label")


def check_boxes(boxes: pl.DataFrame, *, size: tuple[int, int] | None = None, ids: Sequence[str] | None = None,
                source: str = "boxes", score: bool = False) -> pl.DataFrame:
    """``boxes`` with ``image_id`` as text, or a DataError naming ``source`` and the first bad row:
    a missing column, a width or height <= 0, a box outside the ``size`` (height, width) image,
    an ``image_id`` not among ``ids``."""
    need = [*BOX_COLS, "score"] if score else list(BOX_COLS)
    missing = [c for c in need if c not in boxes.columns]
    if missing:
        raise DataError(source, expected="columns " + ", ".join(need), found=f"no {', '.join(missing)} (columns: {', '.join(boxes.columns)})")
    b = boxes.with_columns(pl.col("image_id").cast(pl.String), *(pl.col(c).cast(pl.Float64) for c in "xywh"),
                           pl.col("label").cast(pl.Int64)).with_row_index("_row")

    def bad(mask: pl.Expr, expected: str, fix: str) -> None:
        hit = b.filter(mask)
        if hit.height:
            r = hit.row(0, named=True)
            raise DataError(f"{source}: row {r['_row'] + 1} (image_id {r['image_id']})", expected=expected,
                            found=f"x={r['x']:g}, y={r['y']:g}, w={r['w']:g}, h={r['h']:g} ({hit.height} such rows)", fix=fix)

    bad(pl.any_horizontal(*(pl.col(c).is_null() | pl.col(c).is_nan() for c in "xywh")), "numbers in x, y, w, h", "drop or fill the empty boxes")
    bad((pl.col("w") <= 0) | (pl.col("h") <= 0), "a positive width and height", "boxes are x, y, w, h (not x1, y1, x2, y2)")
    if size is not None:
        h, w = size
        bad((pl.col("x") < 0) | (pl.col("y") < 0) | (pl.col("x") + pl.col("w") > w + 1e-6) | (pl.col("y") + pl.col("h") > h + 1e-6),
            f"a box inside the {w}x{h} image", "clip the boxes to the image")
    if ids is not None:
        unknown = b.filter(~pl.col("image_id").is_in(list(ids)))
        if unknown.height:
            r = unknown.row(0, named=True)
            raise DataError(f"{source}: row {r['_row'] + 1}", expected="an image_id of the images",
                            found=f"unknown image_id '{r['image_id']}' ({unknown['image_id'].n_unique()} unknown ids)")
    return b.drop("_row")


def _per_image(frame: pl.DataFrame, ids: Sequence[str], score: bool) -> list[dict]:
    import torch

    groups = {k[0]: g for k, g in frame.group_by("image_id")}
    out = []
    for i in ids:
        g = groups.get(i)
        if g is None:
            d = {"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.int64)}
            if score:
                d["scores"] = torch.zeros(0)
        else:
            xy = g.select("x", "y", "w", "h").to_numpy()
            d = {"boxes": torch.tensor(np.c_[xy[:, :2], xy[:, :2] + xy[:, 2:]], dtype=torch.float32),
                 "labels": torch.tensor(g["label"].to_numpy(), dtype=torch.int64)}
            if score:
                d["scores"] = torch.tensor(g["score"].to_numpy(), dtype=torch.float32)
        out.append(d)
    return out


def mean_ap(pred: pl.DataFrame, truth: pl.DataFrame, ids: Sequence[str] | None = None) -> dict[str, float]:
    """COCO mAP (IoU 0.50:0.95) and mAP@50 of ``pred`` against ``truth`` over the images ``ids``
    (default: every image_id of either table), by torchmetrics' MeanAveragePrecision (pycocotools)."""
    from torchmetrics.detection import MeanAveragePrecision

    pred = check_boxes(pred, source="predicted boxes", score=True)
    truth = check_boxes(truth, source="true boxes")
    if ids is None:
        ids = sorted(set(truth["image_id"].to_list()) | set(pred["image_id"].to_list()))
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools")
    metric.update(_per_image(pred, ids, True), _per_image(truth, ids, False))
    res = metric.compute()
    return {"map": float(res["map"]), "map_50": float(res["map_50"]), "map_75": float(res["map_75"])}


def fuse_boxes(runs: Sequence[pl.DataFrame], *, size: tuple[int, int], weights: Sequence[float] | None = None,
               iou_thr: float = 0.55, skip_box_thr: float = 0.0, sources: Sequence[str] | None = None) -> pl.DataFrame:
    """Weighted boxes fusion (ensemble-boxes) of several box tables (folds, TTA views or models),
    image by image; ``size`` is the (height, width) of the images. Returns one box table with scores."""
    from medalist.postprocess.boxes import weighted_boxes_fusion

    h, w = size
    scale = np.array([w, h, w, h], float)
    names = list(sources) if sources is not None else [f"boxes of run {k + 1}" for k in range(len(runs))]
    runs = [check_boxes(r, size=size, source=s, score=True) for r, s in zip(runs, names, strict=True)]
    ids = sorted(set().union(*(set(r["image_id"].to_list()) for r in runs)))
    parts = [{k[0]: g for k, g in r.group_by("image_id")} for r in runs]
    rows: list[tuple] = []
    for i in ids:
        bl, sl, ll = [], [], []
        for p in parts:
            g = p.get(i)
            xy = g.select("x", "y", "w", "h").to_numpy() if g is not None else np.zeros((0, 4))
            bl.append(np.c_[xy[:, :2], xy[:, :2] + xy[:, 2:]] / scale)
            sl.append(g["score"].to_list() if g is not None else [])
            ll.append(g["label"].to_list() if g is not None else [])
        b, s, lab = weighted_boxes_fusion(bl, sl, ll, weights=weights, iou_thr=iou_thr, skip_box_thr=skip_box_thr)
        for (x1, y1, x2, y2), sc, la in zip(np.asarray(b).reshape(-1, 4) * scale, s, lab, strict=True):
            rows.append((i, float(x1), float(y1), float(x2 - x1), float(y2 - y1), int(la), float(sc)))
    return _table(rows)


def _table(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"image_id": pl.String, "x": pl.Float64, "y": pl.Float64, "w": pl.Float64, "h": pl.Float64,
                                      "label": pl.Int64, "score": pl.Float64}, orient="row")


def centre_baseline(truth: pl.DataFrame, ids: Sequence[str], *, size: tuple[int, int]) -> pl.DataFrame:
    """The box a model that learnt nothing would draw: one box of the median true size, with the most
    frequent label, at the centre of every image (score 1)."""
    h, w = size
    bw, bh = float(truth["w"].median()), float(truth["h"].median())
    label = int(truth["label"].mode().sort()[0])
    return _table([(i, (w - bw) / 2, (h - bh) / 2, bw, bh, label, 1.0) for i in ids])


def image_scores(boxes: pl.DataFrame, ids: Sequence[str]) -> np.ndarray:
    """The scalar per-image column of a detection run: the highest box score of each image (0 with none)."""
    best = dict(boxes.group_by("image_id").agg(pl.col("score").max()).iter_rows())
    return np.array([best.get(i, 0.0) for i in ids], float)
