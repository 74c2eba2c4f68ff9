"""Masks and DICOM images for ``model: segmentation``.

Masks come from one of: an RLE column of the table (Kaggle's column-major convention, ``-1`` or
empty for no mask), PNG files (any non-zero pixel is foreground), or a ``.npy`` array (n, H, W)
indexed by a key column. DICOM files (``.dcm``) are read with pydicom: rescale slope/intercept,
the file's window (or ``window``), MONOCHROME1 inverted, scaled to uint8; pixel spacing and the
other header fields of :func:`~medalist.workspace.dicom.dicom_metadata` become columns for the tabular side.

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
from medalist.workspace.dicom import (  # re-exported: DICOM inputs
    dicom_metadata,
    read_dicom,
    write_dicom,
)

__all__ = ["MaskSource", "MasksConfig", "dicom_metadata", "read_dicom", "write_dicom"]


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
