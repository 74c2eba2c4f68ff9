"""Masks and DICOM images for ``model: segmentation``.

Masks come from one of: an RLE column of the table (Kaggle's column-major convention, ``-1`` or
empty for no mask), PNG files (any non-zero pixel is foreground), or a ``.npy`` array (n, H, W)
indexed by a key column. DICOM files (``.dcm``) are read with pydicom: rescale slope/intercept,
the file's window (or ``window``), MONOCHROME1 inverted, scaled to uint8; pixel spacing and the
other header fields of :func:`dicom_metadata` become columns for the tabular side.

>>> MasksConfig(rle="EncodedPixels").kind()
'rle'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field

from medalist.core.config import Strict
from medalist.core.errors import ConfigError, DataError, did_you_mean

__all__ = ["MasksConfig", "MaskSource", "read_dicom", "dicom_metadata", "write_dicom"]


class MasksConfig(Strict):
    """Where each training row's mask comes from: exactly one of ``rle`` (a column of RLE strings),
    ``pattern`` (a PNG file name formatted from the row, looked up in ``dirs``) or ``npy`` with ``key``."""

    rle: str | None = None
    order: str = "F"  # F: Kaggle's column-major RLE; C: row-major
    pattern: str | None = None
    dirs: list[str] = Field(default_factory=lambda: ["."])
    npy: str | None = None
    key: str | None = None

    def kind(self) -> str:
        kinds = [k for k, on in (("rle", self.rle), ("png", self.pattern), ("npy", self.npy)) if on]
        if len(kinds) != 1:
            raise ConfigError("model.params.masks", expected="one mask source: rle (a column), pattern (PNG files) or npy",
                              found=", ".join(kinds) or "none", fix="e.g. masks: {rle: EncodedPixels}")
        if kinds[0] == "npy" and not self.key:
            raise ConfigError("model.params.masks.key", expected="the integer column indexing the npy masks", found="nothing")
        return kinds[0]


class MaskSource:
    """Reads the mask of each row (uint8 0/1, the image's size), with errors naming the file or row."""

    def __init__(self, cfg: MasksConfig, root: Path | None = None) -> None:
        self.cfg, self.kind = cfg, cfg.kind()
        self.root = Path(root) if root is not None else Path.cwd()
        self._arr: np.ndarray | None = None

    def columns(self) -> list[str]:
        import string

        c = self.cfg
        if self.kind == "rle":
            return [c.rle]  # type: ignore[list-item]
        if self.kind == "png":
            return [f for _, f, _, _ in string.Formatter().parse(c.pattern) if f]  # type: ignore[arg-type]
        return [c.key]  # type: ignore[list-item]

    def refs(self, frame: pl.DataFrame, what: str = "frame") -> list[Any]:
        for col in self.columns():
            if col not in frame.columns:
                raise DataError(f"{what}: mask column '{col}'", expected="a column of the frame (model.params.masks)",
                                found=f"no such column{did_you_mean(col, frame.columns)}",
                                fix="list it under columns.keep in the experiment config")
        c = self.cfg
        if self.kind == "rle":
            return [(f"{what} row {i} column '{c.rle}'", v) for i, v in enumerate(frame.get_column(c.rle).to_list())]
        if self.kind == "npy":
            return frame.get_column(c.key).cast(pl.Int64).to_list()  # type: ignore[arg-type]
        out, missing = [], []
        for row in frame.select(self.columns()).iter_rows(named=True):
            name = c.pattern.format(**row)  # type: ignore[union-attr]
            found = next((str(self.root / d / name) for d in c.dirs if os.path.exists(self.root / d / name)), None)
            if found is None:
                missing.append(name)
            out.append(found)
        if missing:
            raise DataError(f"{what}: masks", expected=f"a mask file for every row in {', '.join(c.dirs)}",
                            found=f"{len(missing)} of {len(out)} missing, e.g. {', '.join(map(repr, missing[:3]))}",
                            fix="check masks.dirs / masks.pattern")
        return out

    def read(self, ref: Any, shape: tuple[int, int], image: str = "") -> np.ndarray:
        """The mask of ``ref`` for an image of ``shape`` (H, W); a mask of another size is a DataError."""
        from medalist.postprocess.rle import rle_decode

        if self.kind == "rle":
            where, value = ref
            return rle_decode(value, shape, order=self.cfg.order, where=where)
        if self.kind == "npy":
            if self._arr is None:
                p = self.root / self.cfg.npy  # type: ignore[operator]
                if not p.is_file():
                    raise DataError(str(self.cfg.npy), expected="a .npy array of masks (n, H, W)", found="no such file")
                self._arr = np.load(p, mmap_mode="r")
            m, where = np.asarray(self._arr[ref]), f"{self.cfg.npy}[{ref}]"
        else:
            from PIL import Image

            with Image.open(ref) as im:
                m, where = np.asarray(im.convert("L")), str(ref)
        if m.shape[:2] != tuple(shape):
            raise DataError(f"mask {where}", expected=f"the size of its image {image} ({shape[0]}x{shape[1]})",
                            found=f"{m.shape[0]}x{m.shape[1]}", fix="write masks at the images' size")
        return (m > 0).astype(np.uint8)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_arr": None}


def read_dicom(path: str | Path, window: tuple[float, float] | None = None) -> np.ndarray:
    """A DICOM image as (H, W) uint8: rescaled, windowed (``window`` = (center, width), else the
    file's window, else its min–max), MONOCHROME1 inverted. No pixel data: a DataError naming the file."""
    import pydicom

    try:
        ds = pydicom.dcmread(str(path))
    except Exception as e:  # pydicom's InvalidDicomError, truncated files
        raise DataError(str(path), expected="a DICOM file", found=f"unreadable ({type(e).__name__}: {str(e)[:100]})") from None
    if "PixelData" not in ds:
        raise DataError(str(path), expected="a DICOM file with pixel data (PixelData)", found="no pixel data",
                        fix="drop the row or re-export the file with its image")
    x = ds.pixel_array.astype(np.float32)
    x = x * float(getattr(ds, "RescaleSlope", 1) or 1) + float(getattr(ds, "RescaleIntercept", 0) or 0)
    if window is None and "WindowCenter" in ds and "WindowWidth" in ds:
        c, w = ds.WindowCenter, ds.WindowWidth
        window = (float(c[0] if hasattr(c, "__len__") else c), float(w[0] if hasattr(w, "__len__") else w))
    if window is not None:
        lo, hi = window[0] - window[1] / 2, window[0] + window[1] / 2
    else:
        lo, hi = float(x.min()), float(x.max())
    x = np.clip((x - lo) / max(hi - lo, 1e-6), 0, 1)
    if str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")) == "MONOCHROME1":
        x = 1.0 - x
    return (x * 255.0 + 0.5).astype(np.uint8)


def dicom_metadata(paths: list[str | Path], ids: list[Any] | None = None, id_col: str = "id") -> pl.DataFrame:
    """Header fields per file as columns for the tabular side: rows, columns, pixel spacing (mm),
    photometric interpretation, patient sex and age, view position (null where a file lacks one)."""
    import pydicom

    rows = []
    for p in paths:
        ds = pydicom.dcmread(str(p), stop_before_pixels=True)
        sp = getattr(ds, "PixelSpacing", None)
        age = str(getattr(ds, "PatientAge", "") or "").rstrip("Y")
        rows.append({"rows": int(getattr(ds, "Rows", 0) or 0), "columns": int(getattr(ds, "Columns", 0) or 0),
                     "pixel_spacing_row": float(sp[0]) if sp else None, "pixel_spacing_col": float(sp[1]) if sp else None,
                     "photometric": str(getattr(ds, "PhotometricInterpretation", "")) or None,
                     "patient_sex": str(getattr(ds, "PatientSex", "")) or None,
                     "patient_age": int(age) if age.isdigit() else None,
                     "view_position": str(getattr(ds, "ViewPosition", "")) or None})
    out = pl.DataFrame(rows)
    return out.insert_column(0, pl.Series(id_col, ids)) if ids is not None else out


def write_dicom(path: str | Path, image: np.ndarray, *, pixel_spacing: float = 0.168, monochrome1: bool = False,
                sex: str = "M", age: int = 40, view: str = "PA", pixel_data: bool = True) -> Path:
    """Write a (H, W) uint8 image as a minimal secondary-capture DICOM (tests and the local pneumothorax
    competition); ``monochrome1`` stores it inverted as MONOCHROME1, ``pixel_data=False`` omits the pixels."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    img = np.asarray(image, dtype=np.uint8)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientSex, ds.PatientAge, ds.ViewPosition = "CR", sex, f"{age:03d}Y", view
    ds.Rows, ds.Columns = img.shape
    ds.PixelSpacing = [pixel_spacing, pixel_spacing]
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 8, 8, 7, 0
    ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    if pixel_data:
        ds.PixelData = (255 - img if monochrome1 else img).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return Path(path)
