"""Image sources (files, HDF5, npy) and bad input: missing and unreadable images, wrong channel
count, missing aux column; plus a binary fit with downsampling, mixup, EMA and SWA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from medalist.core.errors import ConfigError, DataError
from tests.vision.conftest import needs_fashion

pytestmark = needs_fashion

BASE = {"backbone": "test_efficientnet", "lr": 0.01, "in_chans": 1, "img_size": 32, "epochs": 1, "batch_size": 64, "log_samples": 4,
        "images": {"pattern": "{id}.png", "dirs": ["data/images"]}}


def _data(ws):
    from medalist.core.config import ColumnsConfig
    from medalist.workspace.data import load_competition_data

    return load_competition_data(ws, ColumnsConfig(keep=["is_top"]))


def _ctx(task="multiclass", target="label", log=None):
    from medalist.models import FitContext

    return FitContext(task=task, target=[target], features=[], n_classes=10 if task == "multiclass" else None,
                      seed=0, log=log, threads=1)


def _fit(params, tr, va, ctx=None):
    from medalist.models import create_model

    model = create_model("timm_image", {**BASE, **params})
    return model.fit(tr, va, ctx or _ctx())


def _local_images(ws, n):
    """Copy the first n rows' PNGs into a real folder (the template's image folder is shared)."""
    import shutil

    data = _data(ws)
    d = Path("data/own")
    d.mkdir()
    for rid in data.train["id"][:n]:
        shutil.copyfile(f"data/images/{rid}.png", d / f"{rid}.png")
    return data.train[:n], d


def test_missing_image_file_is_named(fashion_ws):
    tr, d = _local_images(fashion_ws, 120)
    (d / f"{tr['id'][7]}.png").unlink()
    with pytest.raises(DataError, match=rf"training rows: images.*1 of 120 missing.*{tr['id'][7]}\.png.*images.dirs"):
        _fit({"images": {"pattern": "{id}.png", "dirs": [str(d)]}}, tr, None)


def test_unreadable_image_is_counted_and_reported_not_fatal(fashion_ws, caplog):
    tr, d = _local_images(fashion_ws, 200)
    bad = d / f"{tr['id'][5]}.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    curve: list = []
    model = _fit({"images": {"pattern": "{id}.png", "dirs": [str(d)]}, "max_bad_fraction": 0.05}, tr[:150], tr[150:],
                 _ctx(log=lambda n, v, s: curve.append((n, v, s))))
    assert ("train_bad_images", 1.0, 1) in curve and model.bad_images_["train"] == 1
    assert any("unreadable" in r.message and bad.name in r.message for r in caplog.records)
    pred = model.predict(tr[:100])  # the corrupt one is predicted from a blank image, with a warning
    assert pred.shape == (100, 10) and np.isfinite(pred).all()
    with pytest.raises(DataError, match=r"images to predict: expected at most 5.0% unreadable, found 1 of 10"):
        model.predict(tr[:10])


def test_too_many_unreadable_images_stop_with_an_error(fashion_ws):
    tr, d = _local_images(fashion_ws, 100)
    for rid in tr["id"][1:40]:
        (d / f"{rid}.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"train images: expected at most 1.0% unreadable per epoch, found \d+ of 64 unreadable"):
        _fit({"images": {"pattern": "{id}.png", "dirs": [str(d)]}}, tr, None)


def test_first_image_unreadable_fails_before_training(fashion_ws):
    tr, d = _local_images(fashion_ws, 20)
    (d / f"{tr['id'][0]}.png").write_bytes(b"zzz")
    with pytest.raises(DataError, match=r"image .*\.png: expected a readable image with 1 channel.*cannot decode"):
        _fit({"images": {"pattern": "{id}.png", "dirs": [str(d)]}}, tr, None)


def test_wrong_channel_count_in_arrays(fashion_ws):
    tr = _data(fashion_ws).train[:20].with_row_index("row")
    np.save("data/rgb.npy", np.zeros((20, 28, 28, 3), np.uint8))
    with pytest.raises(DataError, match=r"3 channels .* but in_chans is 1"):
        _fit({"images": {"npy": "data/rgb.npy", "key": "row"}}, tr, None)
    with pytest.raises(ConfigError, match=r"in_chans: expected 1 or 3 for image files"):
        _fit({"in_chans": 5}, tr, None)


def test_aux_column_missing(fashion_ws):
    tr = _data(fashion_ws).train[:50]
    with pytest.raises(DataError, match=r"aux column 'is_tpo'.*did you mean 'is_top'.*columns.keep"):
        _fit({"aux": [{"col": "is_tpo"}]}, tr, None)


def test_image_column_missing_and_two_sources(fashion_ws):
    tr = _data(fashion_ws).train[:50]
    with pytest.raises(DataError, match=r"image column 'path'.*columns.keep"):
        _fit({"images": {"column": "path"}}, tr, None)
    with pytest.raises(ConfigError, match="one image source"):
        _fit({"images": {"column": "path", "npy": "x.npy", "key": "id"}}, tr, None)


def test_hdf5_bytes_npy_arrays_and_file_column_read_the_same_pixels(fashion_ws):
    import h5py

    from medalist.vision.config import ImagesConfig
    from medalist.vision.data import ImageSource

    tr = _data(fashion_ws).train[:12].with_row_index("row")
    files = [Path(f"data/images/{i}.png") for i in tr["id"]]
    with h5py.File("data/train-image.hdf5", "w") as h:
        for rid, f in zip(tr["id"], files):
            h[rid] = np.void(f.read_bytes())  # ISIC's layout: encoded bytes keyed by id
    from PIL import Image

    np.save("data/arr.npy", np.stack([np.asarray(Image.open(f)) for f in files]))
    frame = tr.with_columns(pl.Series("path", [f.name for f in files]))
    sources = [ImagesConfig(hdf5=["data/missing-is-fine-later.hdf5", "data/train-image.hdf5"][1:], key="id"),
               ImagesConfig(npy="data/arr.npy", key="row"), ImagesConfig(column="path", dirs=["data/nowhere", "data/images"]),
               ImagesConfig(pattern="{id}.png", dirs=["data/images"])]
    reads = []
    for cfg in sources:
        src = ImageSource(cfg, in_chans=1)
        reads.append(np.stack([src.read(r) for r in src.refs(frame)]))
    for r in reads[1:]:
        np.testing.assert_array_equal(r, reads[0])
    assert reads[0].shape == (12, 28, 28, 1)
    # DataLoader workers each open their own HDF5 handle (h5py handles must not cross a fork)
    import torch

    from medalist.vision.data import ImageDataset

    src = ImageSource(sources[0], 1)
    src.read(src.refs(frame)[0])  # a handle open in the parent before the workers start
    ds = ImageDataset(src, src.refs(frame), None, None, lambda a: a, (28, 28))
    batches = list(torch.utils.data.DataLoader(ds, batch_size=6, num_workers=2))
    got = torch.cat([b["image"] for b in batches]).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(got, reads[0])
    with pytest.raises(DataError, match=r"1 of 13 keys missing"):
        ImageSource(sources[0], 1).refs(pl.concat([frame, frame[:1].with_columns(pl.lit("nokey").alias("id"))]))


def test_binary_fit_with_downsampling_mixup_ema_swa_accumulation(fashion_ws):
    data = _data(fashion_ws)
    tr, va = data.train[:400], data.train[400:600]
    curve: list = []
    params = {"epochs": 2, "loss": "focal", "sampler": {"neg_pos_ratio": 1}, "mix": {"mixup_alpha": 0.4, "cutmix_alpha": 1.0},
              "ema": {"decay": 0.9}, "swa": {"epoch_start": 0.5}, "accumulate": 2, "grad_clip": 1.0,
              "tta": {"hflip": True, "vflip": True, "n": 2}, "augment": [{"name": "HorizontalFlip", "p": 0.5},
                                                                       {"name": "SpecAugment", "alpha": 0.1, "p": 0.5}]}
    from medalist.metrics.registry import get_metric
    from medalist.models import FitContext

    ctx = FitContext(task="binary", target=["is_top"], features=[], seed=0, metric=get_metric("auc"),
                     log=lambda n, v, s: curve.append((n, v, s)), threads=1)
    model = _fit(params, tr, va, ctx)
    pred = model.predict(va)
    assert pred.shape == (200,) and ((pred >= 0) & (pred <= 1)).all()
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(va["is_top"].to_numpy(), pred) > 0.7
    assert model.tta_coverage_ == pytest.approx((1 - 0.5 ** 2) ** 2)
    assert {n for n, _, _ in curve} >= {"train_loss", "valid_auc", "lr"}


def test_unknown_backbone_stops_train_before_a_run_folder_exists(fashion_ws):
    from medalist.cv.runner import train

    Path("configs/bad.yaml").write_text(Path("configs/img.yaml").read_text().replace("test_efficientnet", "resnet5O"))
    with pytest.raises(ConfigError, match=r"configs/bad.yaml: model: model.params.backbone.*'resnet5O'.*close matches: .*resnet50"):
        train(fashion_ws, Path("configs/bad.yaml"), tracking=False)
    assert not any(Path("runs").glob("bad-*"))
