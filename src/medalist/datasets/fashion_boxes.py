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

__all__ = ["BOX_GROUPS", "box_canvases", "group_of"]

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
