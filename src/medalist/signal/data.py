"""Reading waveforms (and provided spectrograms) for a frame's rows, the padding policy, annotator
votes → soft labels, and curriculum row filters.

Waveforms come as list-of-float columns (Parquet), a .npy array or an HDF5 dataset indexed by a key
column. Ragged lengths need ``length`` + ``pad``; NaN/inf values are an error naming the row.

>>> fix_length([np.arange(3.0)[None], np.arange(5.0)[None]], 4, "zero", "center", "x")[:, 0].tolist()
[[0.0, 1.0, 2.0, 0.0], [0.0, 1.0, 2.0, 3.0]]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import DataError, did_you_mean
from medalist.signal.config import SignalSource

__all__ = ["read_signals", "read_array", "fix_length", "vote_targets", "filter_mask", "source_columns", "SignalDataset"]


def source_columns(src: SignalSource) -> list[str]:
    """The frame columns a source reads (signal columns, or the key column)."""
    return list(src.columns) if src.columns else [str(src.key)]


def _check_columns(frame: pl.DataFrame, cols: list[str], what: str) -> None:
    for c in cols:
        if c not in frame.columns:
            raise DataError(f"{what}: signal column '{c}'", expected="a column of the rows",
                            found=f"no such column{did_you_mean(c, frame.columns)}",
                            fix="list it under columns.keep in the experiment config")


_ARRAYS: dict[tuple[str, int, str | None], Any] = {}


def _open_array(src: SignalSource) -> Any:
    path = Path(src.npy or src.hdf5)  # type: ignore[arg-type]
    if not path.is_file():
        raise DataError(str(path), expected="a signal array file", found="no such file",
                        fix="check model.params.signals (paths are relative to the workspace)")
    # keyed by absolute path and modification time: another workspace's (or a rewritten) file is reopened
    key = (str(path.resolve()), path.stat().st_mtime_ns, src.dataset)
    if key not in _ARRAYS:
        if src.npy:
            _ARRAYS[key] = np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            from medalist.core.optional import require

            h5py = require("h5py", extra="signal", purpose="HDF5 signal files")
            fh = h5py.File(path, "r")
            if src.dataset not in fh:
                raise DataError(f"{path}: dataset '{src.dataset}'", expected="a dataset of the file",
                                found=f"datasets {', '.join(list(fh.keys())[:8])}", fix="fix signals.dataset")
            _ARRAYS[key] = fh[src.dataset]
    return _ARRAYS[key]


def read_array(src: SignalSource, frame: pl.DataFrame, what: str) -> np.ndarray:
    """Rows of an npy/HDF5 array selected by the key column: (n, ...) float32."""
    _check_columns(frame, [str(src.key)], what)
    arr = _open_array(src)
    idx = frame.get_column(str(src.key)).to_numpy()
    if idx.dtype.kind not in "iu" or (len(idx) and (idx.min() < 0 or idx.max() >= arr.shape[0])):
        raise DataError(f"{what}: key column '{src.key}'", expected=f"integer row indices in [0, {arr.shape[0]})",
                        found=f"dtype {idx.dtype}" if idx.dtype.kind not in "iu" else f"range [{idx.min()}, {idx.max()}]",
                        fix="point key at the column holding each row's index into the array")
    # HDF5 reads need strictly increasing indices: read each row once, in order, then expand.
    uniq, inverse = np.unique(idx, return_inverse=True)
    return np.asarray(arr[uniq], dtype=np.float32)[inverse.reshape(-1)]


def read_signals(src: SignalSource, frame: pl.DataFrame, what: str) -> list[np.ndarray]:
    """Each row's waveform as a (C, T_i) float array (lengths may differ between rows)."""
    if not src.columns:
        arr = read_array(src, frame, what)
        if arr.ndim == 2:
            arr = arr[:, None, :]
        if arr.ndim != 3:
            raise DataError(f"{what}: {src.npy or src.hdf5}", expected="an array (n, T) or (n, C, T)",
                            found=f"shape {arr.shape}", fix="store one waveform (or channels × samples) per row")
        return list(arr)
    _check_columns(frame, src.columns, what)
    chans = []
    for c in src.columns:
        s = frame.get_column(c)
        if not isinstance(s.dtype, (pl.List, pl.Array)):
            raise DataError(f"{what}: signal column '{c}'", expected="a list-of-numbers column (one waveform per row)",
                            found=f"dtype {s.dtype}", fix="store waveforms as list columns in Parquet, or use signals.npy")
        if s.null_count():
            i = int(s.is_null().arg_true()[0])
            raise DataError(f"{what}: signal column '{c}', row {i}", expected="a waveform", found="null",
                            fix="drop the row or fill the waveform")
        chans.append([np.asarray(v, dtype=np.float32) for v in s.to_list()])
    out = []
    for i in range(frame.height):
        lens = {len(ch[i]) for ch in chans}
        if len(lens) > 1:
            raise DataError(f"{what}: row {i}", expected="channels of equal length",
                            found=f"lengths {sorted(lens)} across {', '.join(src.columns)}", fix="pad the channels")
        out.append(np.stack([ch[i] for ch in chans]))
    return out


def fix_length(signals: list[np.ndarray], length: int | None, pad: str | None, crop: str, what: str) -> np.ndarray:
    """Stack (C, T_i) signals into (n, C, length): crop longer ones, pad shorter ones per the policy."""
    lens = np.array([s.shape[-1] for s in signals])
    for i, s in enumerate(signals):
        bad = ~np.isfinite(s)
        if bad.any():
            c, t = np.argwhere(bad)[0]
            raise DataError(f"{what}: row {i}", expected="finite samples",
                            found=f"{int(bad.sum())} NaN/inf values (first at channel {c}, sample {t})",
                            fix="interpolate or zero the gaps before training (e.g. np.nan_to_num)")
    if length is None:
        if len(set(lens.tolist())) > 1:
            raise DataError(what, expected="signals of one length (no padding policy set)",
                            found=f"lengths from {lens.min()} to {lens.max()} ({len(set(lens.tolist()))} distinct)",
                            fix=f"set model.params.length (e.g. {int(np.median(lens))}) and pad: zero|edge|wrap")
        return np.stack(signals).astype(np.float32)
    if pad is None and (lens < length).any():
        i = int(np.argmax(lens < length))
        raise DataError(f"{what}: row {i}", expected=f"at least {length} samples (no pad policy set)",
                        found=f"{lens[i]} samples ({int((lens < length).sum())} rows shorter)",
                        fix="set model.params.pad: zero|edge|wrap, or lower length")
    out = np.empty((len(signals), signals[0].shape[0], length), dtype=np.float32)
    for i, s in enumerate(signals):
        n = s.shape[-1]
        if n >= length:
            start = {"start": 0, "center": (n - length) // 2, "end": n - length}[crop]
            out[i] = s[:, start:start + length]
        else:
            out[i] = np.pad(s, ((0, 0), (0, length - n)), mode={"zero": "constant", "edge": "edge", "wrap": "wrap"}[pad])  # type: ignore[index]
    return out


def vote_targets(frame: pl.DataFrame, cols: list[str], n_classes: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(soft targets (n, K) = votes / total, total votes (n,)) from per-class vote-count columns."""
    _check_columns(frame, cols, what)
    if len(cols) != n_classes:
        raise DataError(f"{what}: votes", expected=f"{n_classes} vote columns (one per class)", found=f"{len(cols)}",
                        fix="list one vote-count column per class, in class order")
    v = frame.select(pl.col(cols).cast(pl.Float64, strict=False)).to_numpy()
    if not np.isfinite(v).all() or (v < 0).any():
        raise DataError(f"{what}: votes", expected="non-negative vote counts", found="missing or negative values",
                        fix="fill missing vote counts with 0")
    total = v.sum(1)
    soft = np.divide(v, total[:, None], out=np.zeros_like(v), where=total[:, None] > 0)
    return soft.astype(np.float32), total


_OPS = {">=": np.greater_equal, ">": np.greater, "<=": np.less_equal, "<": np.less, "==": np.equal, "!=": np.not_equal}


def filter_mask(frame: pl.DataFrame, cond: tuple[str, str, float] | None, votes: np.ndarray | None, where: str) -> np.ndarray:
    """Boolean mask of the rows passing a parsed curriculum filter; ``votes`` is the total-votes column."""
    if cond is None:
        return np.ones(frame.height, dtype=bool)
    col, op, value = cond
    if col == "votes" and votes is not None and "votes" not in frame.columns:
        x = votes
    elif col in frame.columns:
        x = frame.get_column(col).cast(pl.Float64, strict=False).to_numpy()
    else:
        raise DataError(where, expected="'votes' (total annotator votes, with params.votes) or a kept column",
                        found=f"'{col}'{did_you_mean(col, [*frame.columns, 'votes'])}",
                        fix="list the column under columns.keep, or set params.votes")
    return _OPS[op](np.nan_to_num(x, nan=-np.inf), value)


class SignalDataset:
    """Rows of a fixed-length (n, C, T) array, with optional soft targets, provided spectrograms and
    per-sample loss weights (``weights``, (n,))."""

    def __init__(self, x: np.ndarray, y: np.ndarray | None, extra: dict[str, np.ndarray] | None = None,
                 rows: np.ndarray | None = None, weights: np.ndarray | None = None) -> None:
        self.x, self.y, self.extra = x, y, extra or {}
        self.rows = np.arange(len(x)) if rows is None else rows
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        import torch

        r = int(self.rows[i])
        item: dict[str, Any] = {"image": torch.from_numpy(self.x[r]), "index": r, "bad": False}
        if self.y is not None:
            item["target"] = torch.from_numpy(self.y[r])
        for k, v in self.extra.items():
            item[k] = torch.from_numpy(v[r])
        if self.weights is not None:
            item["weight"] = torch.tensor(self.weights[r])
        return item
