"""Detection sets from real Fashion-MNIST garments (Debian's ``dataset-fashion-mnist``).

No small detection set ships in the packages here, so the tests build one from real images: each
canvas is dim noise with one to ``max_objects`` real 28x28 garments pasted at random, non-overlapping
positions. The box of a garment is the tight box around its pixels above 20 (so a sandal's box is
smaller than a coat's), and its label is a coarse group: ``0`` tops (t-shirt, pullover, coat, shirt),
``1`` footwear (sandal, sneaker, boot), ``2`` other (trouser, dress, bag). The images are real
garments; the canvases and placements are synthetic.

>>> imgs, boxes = box_canvases(4, size=64, seed=0)
>>> imgs.shape, boxes.columns
((4, 64, 64), ['image_id', 'x', 'y', 'w', 'h', 'label'])
"""

from __future__ import annotations

import numpy as np
import polars as pl

from medalist.core.errors import ConfigError
from medalist.core.io import atomic_write, atomic_write_parquet, atomic_write_text

__all__ = ["BOX_GROUPS", "box_canvases", "detection_configs", "group_of", "make_detection_workspace"]

BOX_GROUPS = ("top", "footwear", "other")
_GROUP = np.array([0, 2, 0, 2, 0, 1, 0, 1, 2, 1])  # Fashion-MNIST class -> group


def group_of(fashion_label) -> np.ndarray:
    """The coarse box label (0 top, 1 footwear, 2 other) of Fashion-MNIST classes."""
    return _GROUP[np.asarray(fashion_label)]


def box_canvases(n: int, *, size: int = 64, max_objects: int = 3, seed: int = 0,
                 prefix: str = "c") -> tuple[np.ndarray, pl.DataFrame]:
    """(images (n, size, size) uint8, boxes table ``image_id, x, y, w, h, label``) with ``image_id``
    ``{prefix}{i}`` for image ``i``; 1 to ``max_objects`` garments per canvas (fewer when they do not fit)."""
    from medalist.datasets.fashion import load_fashion_mnist

    if size < 28:
        raise ConfigError("box_canvases size", expected="at least 28 (a garment is 28x28)", found=str(size))
    if max_objects < 1:
        raise ConfigError("box_canvases max_objects", expected="at least 1", found=str(max_objects))
    x, y = load_fashion_mnist("train")
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 50, (n, size, size)).astype(np.uint8)
    rows: list[tuple] = []
    for i in range(n):
        taken = np.zeros((size, size), bool)
        for _ in range(int(rng.integers(1, max_objects + 1))):
            j = int(rng.integers(len(x)))
            g = x[j]
            on = g > 20
            rr, cc = np.flatnonzero(on.any(1)), np.flatnonzero(on.any(0))
            for _try in range(20):
                r, c = (int(v) for v in rng.integers(0, size - 27, 2))
                y0, y1, x0, x1 = r + rr[0], r + rr[-1] + 1, c + cc[0], c + cc[-1] + 1
                if not taken[y0:y1, x0:x1].any():
                    break
            else:
                continue
            taken[y0:y1, x0:x1] = True
            imgs[i, r:r + 28, c:c + 28] = np.where(on, g, imgs[i, r:r + 28, c:c + 28])
            rows.append((f"{prefix}{i}", float(x0), float(y0), float(x1 - x0), float(y1 - y0), int(_GROUP[y[j]])))
    boxes = pl.DataFrame(rows, schema={"image_id": pl.String, "x": pl.Float64, "y": pl.Float64, "w": pl.Float64,
                                       "h": pl.Float64, "label": pl.Int64}, orient="row")
    return imgs, boxes


def detection_configs(archs: dict[str, int] | None = None) -> dict[str, str]:
    """``{arch}.yaml`` experiment configs (``model: detection``) for :func:`make_detection_workspace`,
    ``archs`` mapping each detector to its epochs."""
    out = {}
    for arch, epochs in (archs or {"fcos": 10, "fasterrcnn": 6}).items():
        out[f"{arch}.yaml"] = f"""model:
  name: detection
  params:
    arch: {arch}
    epochs: {epochs}
    score_label: 1                      # the OOF column: best footwear-box score (target has_footwear)
    boxes: data/train_boxes.csv
    images: {{pattern: "{{id}}.png", dirs: [data/images]}}
threads: 2
seeds: [0]
"""
    return out


def make_detection_workspace(root, *, n_train: int = 200, n_test: int = 40, size: int = 64, seed: int = 0, k: int = 2,
                             archs: dict[str, int] | None = None):
    """A detection local competition in the new folder ``root`` (PNG canvases of :func:`box_canvases`,
    ``data/train_boxes.csv``, hidden test boxes in ``.medalist/test_boxes.parquet``, folds, one config
    per detector); returns its Workspace. The table's target is ``has_footwear`` (binary, AUC: what the
    runner scores a detection run's best-box-score column by); the boxes are what :mod:`medalist.vision.detection_boxes`
    scores by mAP."""
    from pathlib import Path

    from PIL import Image

    from medalist.workspace.competition import init_workspace
    from medalist.workspace.folds import build_folds

    root = Path(root)
    imgs, boxes = box_canvases(n_train + n_test, size=size, seed=seed, prefix="img")
    images = root / "data" / "images"
    images.mkdir(parents=True, exist_ok=True)
    ids = [f"img{i}" for i in range(len(imgs))]
    for i, im in zip(ids, imgs, strict=True):
        Image.fromarray(im).save(images / f"{i}.png")
    foot = set(boxes.filter(pl.col("label") == 1)["image_id"].to_list())
    table = pl.DataFrame({"id": ids, "brightness": imgs.reshape(len(imgs), -1).mean(1).round(2),  # a column for the tabular side
                          "has_footwear": [int(i in foot) for i in ids]})
    train, test = table.slice(0, n_train), table.slice(n_train)
    data = root / "data"
    sample = test.select("id").with_columns(pl.lit(0.5).alias("has_footwear"))
    train_boxes = boxes.filter(pl.col("image_id").is_in(ids[:n_train]))
    for frame, name in ((train, "train.csv"), (test.drop("has_footwear"), "test.csv"), (sample, "sample_submission.csv"),
                        (train_boxes, "train_boxes.csv")):
        atomic_write(data / name, lambda p, f=frame: f.write_csv(p))
    ws = init_workspace(root, train=data / "train.csv", test=data / "test.csv", sample_submission=data / "sample_submission.csv",
                        target="has_footwear", id="id", task="binary", metric="auc", name="garment-boxes", force=True)
    atomic_write_parquet(root / ".medalist" / "test_boxes.parquet", boxes.filter(pl.col("image_id").is_in(ids[n_train:])))
    ws.config.tracking = "none"
    ws.save_config()
    for name, text in detection_configs(archs).items():
        atomic_write_text(root / "configs" / name, text)
    build_folds(ws, scheme="stratified", k=k)
    return ws
