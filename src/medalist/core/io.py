"""Atomic writes: every file medalist writes goes through :func:`atomic_write`.

The bytes go to a temp file in the same folder, are fsynced, then ``os.replace``d into place, so a
crash or a Ctrl-C never leaves a half-written artifact behind.

>>> import tempfile
>>> d = Path(tempfile.mkdtemp())
>>> atomic_write_json(d / "a.json", {"x": 1}).read_text().splitlines()
['{', '  "x": 1', '}']
>>> sorted(p.name for p in d.iterdir())  # no temp file left beside it
['a.json']
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "atomic_write", "atomic_write_text", "atomic_write_json", "atomic_write_parquet"]

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: Path, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success move it into place, on error remove it.

    ``durable=False`` skips the fsync: still atomic for a crashed process, not for a power cut
    (used for per-fold parts that ``--resume`` can recompute anyway).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; artifacts should read like normal files
    try:
        yield Path(tmp)
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write(path: Path, write: Callable[[Path], Any], *, durable: bool = True) -> Path:
    with atomic_path(path, durable=durable) as tmp:
        write(tmp)
    return Path(path)


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def atomic_write_json(path: Path, obj: Any, *, durable: bool = True) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n"
    return atomic_write(path, lambda p: p.write_text(text), durable=durable)


def atomic_write_parquet(path: Path, frame) -> Path:
    return atomic_write(path, lambda p: frame.write_parquet(p))


