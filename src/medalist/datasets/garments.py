"""Segmentation sets from real Fashion-MNIST garments (Debian's ``dataset-fashion-mnist``).

No small segmentation set ships in the packages here, so the tests build one from real images:
each canvas is dim noise with one 28x28 garment placed at a random offset. "Tops" (t-shirt,
pullover, coat, shirt) are the finding: their silhouette (pixels above 20) is the mask. Other
garments are distractors with an empty mask, so a segmenter must tell garments apart, not just
find bright pixels — the shape of SIIM pneumothorax, where most images are empty.

:func:`make_pneumothorax_workspace` turns that into a local competition: DICOM files written with
pydicom (every third stored MONOCHROME1), ``train.csv`` with the RLE column (Kaggle's column-major
convention, ``-1`` for empty) and DICOM header columns, hidden RLE answers, a sample submission of
``-1`` strings, folds, and the three experiment configs (segmenter, classifier, gating).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from medalist.core.errors import ConfigError
from medalist.core.io import atomic_write, atomic_write_parquet, atomic_write_text

__all__ = ["TOPS", "garment_canvases", "make_pneumothorax_workspace", "pneumothorax_configs"]

TOPS = (0, 2, 4, 6)  # t-shirt, pullover, coat, shirt


def garment_canvases(n: int, *, size: int = 32, positive: float = 0.6, seed: int = 0,
                     distractors: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images (n, size, size) uint8, masks (n, size, size) uint8 0/1, labels (n,) Fashion-MNIST classes, -1
    for none): a top (masked) with probability ``positive``, else another garment with an empty mask
    (``distractors``) or only the noise."""
    from medalist.datasets.fashion import load_fashion_mnist

    if size < 28:
        raise ConfigError("garment_canvases size", expected="at least 28 (a garment is 28x28)", found=str(size))
    x, y = load_fashion_mnist("train")
    rng = np.random.default_rng(seed)
    tops, others = np.flatnonzero(np.isin(y, TOPS)), np.flatnonzero(~np.isin(y, TOPS))
    imgs = rng.integers(0, 50, (n, size, size)).astype(np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    labels = np.zeros(n, np.int64)
    for i in range(n):
        pos = rng.random() < positive
        if not pos and not distractors:
            labels[i] = -1
            continue
        j = int(rng.choice(tops if pos else others))
        g = x[j]
        r, c = rng.integers(0, size - 27, 2)
        imgs[i, r:r + 28, c:c + 28] = np.maximum(imgs[i, r:r + 28, c:c + 28], g)
        if pos:
            masks[i, r:r + 28, c:c + 28] = g > 20
        labels[i] = y[j]
    return imgs, masks, labels


def pneumothorax_configs(size: int = 32, backbone: str = "test_efficientnet") -> dict[str, str]:
    """The local competition's experiment configs: ``seg.yaml`` (Unet), ``cls.yaml`` (timm classifier of
    "has a mask"), ``gate.yaml`` (the gating of the one by the other)."""
    common = f"""    backbone: {backbone}
    in_chans: 1
    img_size: {size}
    batch_size: 32
    images: {{pattern: "{{ImageId}}.dcm", dirs: [data/dicom]}}
"""
    seg = f"""model:
  name: segmentation
  params:
{common}    arch: Unet
    encoder_depth: 3
    decoder_channels: [32, 16, 8]
    lr: 0.003
    epochs: 4
    masks: {{rle: EncodedPixels}}
    seg_loss: {{bce: 1.0, dice: 1.0}}
    id_col: ImageId
    oof_size: {size}
    tta: {{hflip: true}}
columns: {{keep: [EncodedPixels]}}
threads: 2
seeds: [0]
"""
    cls = f"""model:
  name: timm_image
  params:
{common}    lr: 0.01
    epochs: 4
    tta: {{hflip: true}}
columns: {{drop: [EncodedPixels]}}
threads: 2
seeds: [0]
"""
    gate = """segmenter: seg-001
classifier: cls-001
gates: [0.0, 0.3, 0.5, 0.7]
thresholds: [0.3, 0.4, 0.5, 0.6, 0.7]
areas: [0, 10, 30, 60]
"""
    return {"seg.yaml": seg, "cls.yaml": cls, "gate.yaml": gate}


def make_pneumothorax_workspace(root: Path, *, n_train: int = 300, n_test: int = 150, size: int = 32, positive: float = 0.6,
                                seed: int = 0, k: int = 3):
    """A SIIM-pneumothorax-shaped local competition in the new folder ``root``; returns its Workspace.

    Target ``has_pneumothorax`` (binary, AUC: what the runner scores the segmenter's non-empty score
    and the classifier by); the submission is ``ImageId, EncodedPixels`` (RLE, ``-1`` empty), scored by
    ``submit --local`` as mean per-image dice on the hidden answers (~``1 - positive`` empty masks).
    """
    from medalist.postprocess.rle import rle_encode
    from medalist.workspace.competition import init_workspace
    from medalist.workspace.dicom import dicom_metadata, write_dicom
    from medalist.workspace.folds import build_folds

    root = Path(root)
    n = n_train + n_test
    imgs, masks, _ = garment_canvases(n, size=size, positive=positive, seed=seed)
    rng = np.random.default_rng(seed + 1)
    ids = [f"1.2.276.0.{seed}.{i:05d}" for i in rng.permutation(n)]
    dicom = root / "data" / "dicom"
    dicom.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, rid in enumerate(ids):
        paths.append(write_dicom(dicom / f"{rid}.dcm", imgs[i], monochrome1=i % 3 == 0, pixel_spacing=float(rng.choice([0.139, 0.168])),
                                 sex=str(rng.choice(["M", "F"])), age=int(rng.integers(18, 80))))
    meta = dicom_metadata(paths, ids=ids, id_col="ImageId").select("ImageId", "pixel_spacing_row", "patient_sex", "patient_age")
    rle = [rle_encode(m) for m in masks]
    full = meta.with_columns(pl.Series("EncodedPixels", rle), pl.Series("has_pneumothorax", masks.reshape(n, -1).any(1).astype(np.int64)))
    train, test = full.slice(0, n_train), full.slice(n_train)
    data = root / "data"
    sample = test.select("ImageId").with_columns(pl.lit("-1").alias("EncodedPixels"))
    for frame, name in ((train, "train.csv"), (test.drop("EncodedPixels", "has_pneumothorax"), "test.csv"), (sample, "sample_submission.csv")):
        atomic_write(data / name, lambda p, f=frame: f.write_csv(p))
    ws = init_workspace(root, train=data / "train.csv", test=data / "test.csv", sample_submission=data / "sample_submission.csv",
                        target="has_pneumothorax", id="ImageId", task="binary", metric="auc", name="pneumothorax", force=True)
    usage = np.where(rng.random(test.height) < 0.4, "Public", "Private")
    atomic_write_parquet(root / ".medalist" / "answers.parquet",
                         test.select("ImageId", "has_pneumothorax", "EncodedPixels").with_columns(pl.Series("usage", usage)))
    ws.config.competition.answers = ".medalist/answers.parquet"
    from medalist.workspace.competition import SubmissionConfig

    ws.config.submission = SubmissionConfig(format="rle")  # a sample of "-1" alone reads as integers
    ws.config.tracking = "none"
    ws.save_config()
    for name, text in pneumothorax_configs(size).items():
        atomic_write_text(root / "configs" / name, text)
    build_folds(ws, scheme="stratified", k=k)
    return ws
