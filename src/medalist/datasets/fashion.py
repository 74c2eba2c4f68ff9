"""Fashion-MNIST from Debian's ``dataset-fashion-mnist`` as a small, real image competition.

Used by the tests and docs: it writes PNG files and a train/test table, so the whole file-based
pipeline (paths → decode → augment → network) runs on real images without any download.

>>> ws = make_fashion_workspace(Path("fm"), n_train=200, n_test=50)
>>> ws.competition.task, ws.competition.metric, len(list((ws.root / "data" / "images").iterdir()))
('multiclass', 'accuracy', 250)
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import polars as pl

from medalist.core.errors import DataError

__all__ = ["FASHION_DIR", "CLASSES", "load_fashion_mnist", "make_fashion_workspace"]

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion_mnist(split: str = "train", root: Path = FASHION_DIR) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 28, 28) uint8, labels (n,)) of the ``train`` (60k) or ``t10k`` (10k) split."""
    img, lab = root / f"{split}-images-idx3-ubyte.gz", root / f"{split}-labels-idx1-ubyte.gz"
    if not img.is_file() or not lab.is_file():
        raise DataError(str(root), expected="Fashion-MNIST idx files", found="none",
                        fix="apt-get install -y dataset-fashion-mnist")
    return _read_idx(img), _read_idx(lab)


def make_fashion_workspace(root: Path, *, n_train: int = 2000, n_test: int = 500, k: int = 3, seed: int = 0):
    """A workspace whose rows are Fashion-MNIST PNGs in ``data/images/{id}.png``; folds built.

    train.csv has ``id, label, is_top`` (is_top: t-shirt/pullover/coat/shirt, an auxiliary
    column absent from test, like ISIC's train-only metadata).
    """
    from PIL import Image

    from medalist.workspace.competition import init_workspace
    from medalist.workspace.folds import build_folds

    root = Path(root)
    rng = np.random.default_rng(seed)
    x, y = load_fashion_mnist("train")
    idx = rng.choice(len(x), n_train + n_test, replace=False)
    src = root.parent / f".{root.name}-src"
    img_dir = src / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    ids = [f"fm{i:05d}" for i in idx]
    for i, rid in zip(idx, ids):
        Image.fromarray(x[i]).save(img_dir / f"{rid}.png")
    labels = y[idx].astype(np.int64)
    tr = pl.DataFrame({"id": ids[:n_train], "label": labels[:n_train],
                       "is_top": np.isin(labels[:n_train], [0, 2, 4, 6]).astype(np.int8)})
    te = pl.DataFrame({"id": ids[n_train:]})
    ss = te.with_columns(pl.lit(0).alias("label"))
    tr.write_csv(src / "train.csv")
    te.write_csv(src / "test.csv")
    ss.write_csv(src / "sample_submission.csv")
    ws = init_workspace(root, train=src / "train.csv", test=src / "test.csv", sample_submission=src / "sample_submission.csv",
                        target="label", id="id", task="multiclass", metric="accuracy", name="fashion")
    (root / "data" / "images").symlink_to(img_dir.resolve(), target_is_directory=True)
    ws.config.tracking = "none"
    ws.save_config()
    build_folds(ws, scheme="stratified", k=k)
    return ws
