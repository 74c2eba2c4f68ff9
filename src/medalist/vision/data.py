"""Images for the rows of a frame: files, HDF5 of encoded bytes, or a .npy array; dataset and sampler.

An :class:`ImageSource` turns the rows of a train/valid/test frame into references (a file path,
an HDF5 key, an array row) once, raising a :class:`~medalist.core.errors.DataError` for missing files or
keys before any training starts. Reading happens in the DataLoader workers; an image that cannot
be decoded does not kill the epoch: the dataset returns a blank image flagged ``bad``, the loss
ignores it, and the count (with examples) is reported per epoch.

>>> # src = ImageSource(ImagesConfig(pattern="{id}.png", dirs=["data/img"]), in_chans=1)
>>> # refs = src.refs(frame)         # DataError if a file is missing
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import ConfigError, DataError, did_you_mean
from medalist.vision.config import ImagesConfig

__all__ = ["ImageSource", "ImageDataset", "NegativeDownsampler", "BadImage", "decode"]


class BadImage(Exception):
    """An image that exists but cannot be used (corrupt bytes, wrong channel count)."""


def _fields(pattern: str) -> list[str]:
    import string

    return [f for _, f, _, _ in string.Formatter().parse(pattern) if f]


def decode(data: bytes | str | Path, in_chans: int) -> np.ndarray:
    """Decode an encoded image (bytes or a file path) to an HWC uint8 array with ``in_chans`` channels.

    Files decode to grayscale for ``in_chans: 1`` and RGB for ``in_chans: 3`` (the mode the network
    needs); other channel counts (2.5D stacks) come from arrays, not image files.

    >>> from PIL import Image
    >>> buf = io.BytesIO(); Image.new("RGB", (4, 3)).save(buf, format="PNG")
    >>> decode(buf.getvalue(), 1).shape
    (3, 4, 1)
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(data, (str, Path)) and str(data).lower().endswith((".dcm", ".dicom")):
        from medalist.workspace.dicom import read_dicom  # pydicom; no pixel data: DataError naming the file

        arr = read_dicom(data)
        return (arr[:, :, None] if in_chans == 1 else np.repeat(arr[:, :, None], in_chans, axis=2))
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data) as im:
            im = im.convert("L" if in_chans == 1 else "RGB")
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise BadImage(f"cannot decode: {type(e).__name__}: {str(e)[:120]}") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def _as_hwc(arr: np.ndarray, in_chans: int) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise BadImage(f"array of shape {arr.shape}: expected (H, W) or (H, W, C)")
    if arr.shape[2] != in_chans and arr.shape[0] == in_chans:
        arr = np.moveaxis(arr, 0, 2)  # CHW stored arrays
    if arr.shape[2] != in_chans:
        raise BadImage(f"{arr.shape[2]} channels (shape {arr.shape}) but in_chans is {in_chans}")
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8) if np.issubdtype(arr.dtype, np.integer) else arr.astype(np.float32)
    return arr


class ImageSource:
    """Resolves rows to image references and reads them (picklable, so DataLoader workers can use it)."""

    def __init__(self, cfg: ImagesConfig, in_chans: int, root: Path | None = None) -> None:
        self.cfg = cfg
        self.in_chans = in_chans
        self.root = Path(root) if root is not None else Path.cwd()
        kinds = [k for k, on in (("files", cfg.column or cfg.pattern), ("hdf5", cfg.hdf5), ("npy", cfg.npy)) if on]
        if len(kinds) != 1 or (cfg.column and cfg.pattern):
            raise ConfigError(
                "model.params.images", expected="one image source: column or pattern (files), hdf5, or npy",
                found=", ".join(kinds) if kinds else "none",
                fix="e.g. images: {pattern: '{id}.jpg', dirs: [data/train, data/test]}",
            )
        self.kind = kinds[0]
        if self.kind in ("hdf5", "npy") and not cfg.key:
            raise ConfigError("model.params.images.key", expected=f"the column that keys the {self.kind} rows",
                              found="nothing", fix="set images.key, e.g. key: isic_id")
        if self.kind == "files" and in_chans not in (1, 3):
            raise ConfigError("model.params.in_chans", expected="1 or 3 for image files",
                              found=str(in_chans), fix="store 2.5D stacks as npy/hdf5 arrays (H, W, C)")
        self._handles: dict[str, Any] = {}
        self._pid = None

    def _path(self, p: str) -> Path:
        q = Path(p)
        return q if q.is_absolute() else self.root / q

    def columns(self) -> list[str]:
        """Frame columns the references are built from."""
        c = self.cfg
        if c.column:
            return [c.column]
        if c.pattern:
            return _fields(c.pattern)
        return [c.key]  # type: ignore[list-item]

    def check_columns(self, frame: pl.DataFrame, what: str) -> None:
        for col in self.columns():
            if col not in frame.columns:
                raise DataError(
                    f"{what}: image column '{col}'", expected="a column of the frame (model.params.images)",
                    found=f"no such column{did_you_mean(col, frame.columns)}",
                    fix="list it under columns.keep in the experiment config so it reaches the model",
                )

    # -- references --------------------------------------------------------------------------

    def refs(self, frame: pl.DataFrame, what: str = "frame") -> list[Any]:
        """One reference per row; DataError naming the first missing files/keys."""
        self.check_columns(frame, what)
        if self.kind == "files":
            return self._file_refs(frame, what)
        keys = frame.get_column(self.cfg.key).to_list()  # type: ignore[arg-type]
        if self.kind == "npy":
            arr = self._npy()
            idx = np.asarray(keys)
            if not np.issubdtype(idx.dtype, np.integer) or (len(idx) and (idx.min() < 0 or idx.max() >= len(arr))):
                raise DataError(f"{self.cfg.npy}: key column '{self.cfg.key}'",
                                expected=f"integer row indices in [0, {len(arr)})", found=f"values like {keys[:3]}",
                                fix="store each row's index into the array in the key column")
            return [int(i) for i in idx]
        return self._hdf5_refs([str(k) for k in keys], what)

    def _file_refs(self, frame: pl.DataFrame, what: str) -> list[str]:
        c = self.cfg
        if c.column:
            names = [None if v is None else str(v) for v in frame.get_column(c.column).to_list()]
        else:
            names = [c.pattern.format(**row) for row in frame.select(self.columns()).iter_rows(named=True)]  # type: ignore[union-attr]
        dirs = [self._path(d) for d in c.dirs]
        out, missing = [], []
        for name in names:
            found = None
            if name is not None:
                for d in dirs:
                    p = d / name
                    if os.path.exists(p):
                        found = str(p)
                        break
            if found is None:
                missing.append(name)
            out.append(found)
        if missing:
            raise DataError(
                f"{what}: images", expected=f"a file for every row in {', '.join(map(str, c.dirs))}",
                found=f"{len(missing)} of {len(names)} missing, e.g. {', '.join(map(repr, missing[:3]))}",
                fix="check images.dirs / images.pattern (paths are relative to the workspace)",
            )
        return out

    def _hdf5_refs(self, keys: list[str], what: str) -> list[tuple[int, str]]:
        import h5py

        members = []
        for f in self.cfg.hdf5:
            if not self._path(f).is_file():
                raise DataError(f, expected="an HDF5 file of images keyed by id", found="no such file", fix="check images.hdf5")
            with h5py.File(self._path(f), "r") as h:
                members.append(set(h.keys()))
        out, missing = [], []
        for k in keys:
            i = next((j for j, m in enumerate(members) if k in m), None)
            if i is None:
                missing.append(k)
            out.append((i, k))
        if missing:
            raise DataError(f"{what}: images in {', '.join(self.cfg.hdf5)}", expected="an entry for every key",
                            found=f"{len(missing)} of {len(keys)} keys missing, e.g. {missing[:3]}",
                            fix="check images.key and images.hdf5")
        return out

    # -- reading -----------------------------------------------------------------------------

    def _npy(self) -> np.ndarray:
        if "npy" not in self._handles:
            p = self._path(self.cfg.npy)  # type: ignore[arg-type]
            if not p.is_file():
                raise DataError(str(self.cfg.npy), expected="a .npy array of images", found="no such file", fix="check images.npy")
            self._handles["npy"] = np.load(p, mmap_mode="r")
        return self._handles["npy"]

    def _h5(self, i: int) -> Any:
        import h5py

        # h5py handles must not cross a fork: each worker opens its own.
        if self._pid != os.getpid():
            self._handles = {k: v for k, v in self._handles.items() if k == "npy"}
            self._pid = os.getpid()
        key = f"h5:{i}"
        if key not in self._handles:
            self._handles[key] = h5py.File(self._path(self.cfg.hdf5[i]), "r")
        return self._handles[key]

    def read(self, ref: Any) -> np.ndarray:
        """The image of one reference as HWC (uint8, or float32 for float arrays); BadImage if unusable."""
        if self.kind == "files":
            return _as_hwc(decode(ref, self.in_chans), self.in_chans)
        if self.kind == "npy":
            return _as_hwc(np.array(self._npy()[ref]), self.in_chans)
        i, k = ref
        value = self._h5(i)[k][()]
        if isinstance(value, (bytes, np.bytes_, np.void)) or (isinstance(value, np.ndarray) and value.dtype.kind in "SV"):
            return _as_hwc(decode(bytes(value.tobytes() if isinstance(value, np.ndarray) else value), self.in_chans), self.in_chans)
        return _as_hwc(value, self.in_chans)

    def describe(self, ref: Any) -> str:
        return str(ref) if self.kind != "hdf5" else f"{self.cfg.hdf5[ref[0]]}[{ref[1]}]"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_handles"] = {}
        state["_pid"] = None
        return state


class ImageDataset:
    """(image, target, aux, index, bad) per row; a torch map-style dataset.

    ``targets``: (n, D) float32 soft targets or None (prediction); ``aux``: (n, A) with NaN for
    unknown values; ``weights``: (n,) per-sample loss weights or None. ``transform`` maps an HWC array
    to an HWC array of the network's input size.
    """

    def __init__(self, source: ImageSource, refs: list[Any], targets: np.ndarray | None, aux: np.ndarray | None,
                 transform: Callable[[np.ndarray], np.ndarray], size: tuple[int, int],
                 weights: np.ndarray | None = None, tab: np.ndarray | None = None) -> None:
        self.source, self.refs, self.targets, self.aux = source, refs, targets, aux
        self.transform, self.size = transform, size
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float32)
        self.tab = tab  # (n, T) float32 standardised tabular values (model.params.tabular) or None

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, i: int) -> dict[str, Any]:
        import torch

        bad = False
        try:
            img = self.transform(self.source.read(self.refs[i]))
        except BadImage:
            bad = True
            img = np.zeros((*self.size, self.source.in_chans), dtype=np.uint8)
        img = np.ascontiguousarray(np.asarray(img).transpose(2, 0, 1))
        out = {"image": torch.from_numpy(img), "index": i, "bad": bad}
        if self.targets is not None:
            out["target"] = torch.from_numpy(self.targets[i])
        if self.aux is not None:
            out["aux"] = torch.from_numpy(self.aux[i])
        if self.weights is not None:
            out["weight"] = torch.tensor(self.weights[i])
        if self.tab is not None:
            out["tab"] = torch.from_numpy(self.tab[i])
        return out


class NegativeDownsampler:
    """All positives plus ``ratio`` × as many negatives, drawn afresh every epoch (a bagging effect).

    >>> s = NegativeDownsampler(np.array([1, 0, 0, 0, 0, 0]), ratio=2, seed=0)
    >>> len(s), sorted(s), sorted(s)  # the positive (row 0) in every epoch, beside two fresh negatives
    (3, [0, 4, 5], [0, 3, 5])
    """

    def __init__(self, labels: np.ndarray, ratio: float, seed: int = 0) -> None:
        labels = np.asarray(labels)
        self.pos = np.flatnonzero(labels > 0.5)
        self.neg = np.flatnonzero(labels <= 0.5)
        self.n_neg = min(len(self.neg), int(round(ratio * max(len(self.pos), 1))))
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.pos) + self.n_neg

    def __iter__(self):
        # A new epoch is a new iterator: a fresh draw of negatives, seeded for reproducibility.
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        idx = np.concatenate([self.pos, rng.choice(self.neg, self.n_neg, replace=False)])
        rng.shuffle(idx)
        return iter(idx.tolist())
