"""DICOM files with pydicom: read as windowed uint8 images, header fields as table columns, and a
minimal writer (tests and the local pneumothorax competition). pydicom is imported lazily (vision extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import DataError

__all__ = ["dicom_metadata", "read_dicom", "write_dicom"]


def read_dicom(path: str | Path, window: tuple[float, float] | None = None) -> np.ndarray:
    """A DICOM image as (H, W) uint8: rescaled, windowed (``window`` = (center, width), else the
    file's window, else its min–max), MONOCHROME1 inverted. No pixel data: a DataError naming the file."""
    import pydicom

    try:
        ds = pydicom.dcmread(str(path))
    except Exception as e:  # noqa: BLE001 (pydicom's InvalidDicomError, truncated files, OSError)
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
    from pydicom.uid import (
        ExplicitVRLittleEndian,
        SecondaryCaptureImageStorage,
        generate_uid,
    )

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
