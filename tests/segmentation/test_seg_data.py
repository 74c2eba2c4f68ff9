"""DICOM reading (windowing, MONOCHROME1, metadata, no pixel data) and mask sources with clear errors."""

import numpy as np
import polars as pl
import pytest
from PIL import Image

pytest.importorskip("pydicom")

from medalist.core.errors import DataError
from medalist.vision.data import decode
from medalist.vision.segmentation_data import (
    MasksConfig,
    MaskSource,
    dicom_metadata,
    read_dicom,
    write_dicom,
)


def test_dicom_roundtrip_monochrome1_metadata_and_no_pixels(tmp_path):
    img = (np.arange(64 * 32) % 256).astype(np.uint8).reshape(64, 32)
    img[0, 0], img[0, 1] = 0, 255  # full range: min-max scaling is the identity
    a = write_dicom(tmp_path / "a.dcm", img)
    b = write_dicom(tmp_path / "b.dcm", img, monochrome1=True, pixel_spacing=0.2, sex="F")
    np.testing.assert_array_equal(read_dicom(a), img)
    np.testing.assert_array_equal(read_dicom(b), img)  # stored inverted, read back upright
    assert decode(str(a), 3).shape == (64, 32, 3)
    meta = dicom_metadata([a, b], ids=["a", "b"])
    assert meta["pixel_spacing_row"].to_list() == [0.168, 0.2] and meta["patient_sex"].to_list() == ["M", "F"]
    assert meta["rows"].to_list() == [64, 64] and meta["photometric"][1] == "MONOCHROME1"
    empty = write_dicom(tmp_path / "empty.dcm", img, pixel_data=False)
    with pytest.raises(DataError, match=r"empty\.dcm.*pixel data"):
        read_dicom(empty)


def test_mask_sources_rle_png_npy_and_wrong_size(tmp_path):
    m = np.zeros((6, 5), np.uint8)
    m[1:3, 2] = 1
    Image.fromarray(m * 255).save(tmp_path / "x.png")
    np.save(tmp_path / "m.npy", m[None])
    frame = pl.DataFrame({"id": ["x"], "rle": ["14 2"], "k": [0]})
    for cfg in (MasksConfig(rle="rle"), MasksConfig(pattern="{id}.png"), MasksConfig(npy="m.npy", key="k")):
        src = MaskSource(cfg, root=tmp_path)
        np.testing.assert_array_equal(src.read(src.refs(frame)[0], (6, 5)), m)
    src = MaskSource(MasksConfig(pattern="{id}.png"), root=tmp_path)
    with pytest.raises(DataError, match=r"x\.png.*size of its image img7.*8x8.*found 6x5"):
        src.read(src.refs(frame)[0], (8, 8), image="img7")
    src = MaskSource(MasksConfig(rle="rle"), root=tmp_path)
    with pytest.raises(DataError, match=r"train row 0 column 'rle'.*runs inside the 3x3 image"):
        src.read(src.refs(frame, "train")[0], (3, 3))
