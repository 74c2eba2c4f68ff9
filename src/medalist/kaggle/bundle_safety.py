"""What a team bundle may hold, checked before anything in it is used: data, never code.

A bundle member is accepted only if its name is safe (relative, no ``..``, no link or special
file), its declared size is under :data:`MAX_MEMBER_BYTES`, and its content is one of the data
formats below — checked by its bytes, not only its name:

- ``.json``, ``.yaml``, ``.csv``, ``.txt`` (LightGBM's model): UTF-8 text;
- ``.parquet`` (``PAR1``), ``.ubj`` (XGBoost), ``.cbm`` (CatBoost, ``CBM1``), ``.png``;
- ``.safetensors`` (torch weights: a JSON header of tensors);
- ``.skops`` whose every type is on :func:`medalist.models.persist.skops_allowed`'s list (read from
  the file's schema; nothing in it is built).

Pickles are refused whatever their name (``.pkl``, ``.joblib``, ``.pt``, a pickle renamed
``.safetensors``, a torch zip holding ``data.pkl``). The decompressed stream is capped
(:data:`MAX_STREAM_BYTES`, and :data:`MAX_READ_BYTES` for any one read — tar headers included),
so a gzip bomb stops at the cap instead of filling memory or disk.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import struct
import zipfile
from pathlib import Path, PurePosixPath

from medalist.core.errors import MedalistError

__all__ = ["BundleError", "MAX_MEMBER_BYTES", "MAX_STREAM_BYTES", "MAX_READ_BYTES", "MAX_MEMBERS", "open_stream",
           "check_name", "check_content", "PICKLE_SUFFIXES", "DATA_SUFFIXES"]

MAX_MEMBER_BYTES = 4 << 30     # declared size of one member (timm weights are hundreds of MB)
MAX_STREAM_BYTES = 32 << 30    # decompressed bytes of the whole bundle
MAX_READ_BYTES = 64 << 20      # any single read (tar reads pax/long-name headers whole)
MAX_MEMBERS = 200_000
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".bin", ".npy", ".npz", ".dill", ".sav", ".h5")
DATA_SUFFIXES = (".json", ".yaml", ".csv", ".txt", ".parquet", ".ubj", ".cbm", ".png", ".safetensors", ".skops")
_NO = "do not import this bundle (ask the sender for a `medalist export` bundle)"


class BundleError(MedalistError):
    """A bundle is malformed, unsafe or from another CV."""


class _Capped(io.RawIOBase):
    """A decompressing reader that refuses to produce more than the caps (a gzip bomb stops here)."""

    def __init__(self, f, label: str) -> None:
        self.f, self.label = f, label

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.f.tell()

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 0 and pos > MAX_STREAM_BYTES:
            self._refuse(pos)
        return self.f.seek(pos, whence)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > MAX_READ_BYTES:
            raise BundleError(self.label, expected=f"tar records under {MAX_READ_BYTES >> 20} MiB",
                              found=f"a record asking to read {'everything' if n is None or n < 0 else n} bytes at once "
                                    "(a header bomb)", fix=_NO)
        data = self.f.read(n)
        if self.f.tell() > MAX_STREAM_BYTES:
            self._refuse(self.f.tell())
        return data

    def _refuse(self, pos: int) -> None:
        raise BundleError(self.label, expected=f"at most {MAX_STREAM_BYTES >> 20} MiB once decompressed",
                          found=f"more than that (reached {pos} bytes: a decompression bomb)", fix=_NO)

    def close(self) -> None:
        self.f.close()
        super().close()


def open_stream(bundle: Path, label: str) -> io.RawIOBase:
    """The bundle's tar bytes behind the caps: gzip-compressed (``medalist export``) or a plain tar."""
    with open(bundle, "rb") as f:
        head = f.read(512)
    if head[:2] == b"\x1f\x8b":
        return _Capped(gzip.GzipFile(bundle, "rb"), label)
    if head[257:262] == b"ustar":
        return _Capped(open(bundle, "rb"), label)
    raise BundleError(label, expected="a .tar.gz bundle (medalist export)", found="another format (not gzip, not tar)", fix=_NO)


def check_name(name: str, kind: str, size: int, label: str) -> PurePosixPath:
    """Refuse absolute paths, ``..``, links, special files, files outside ``runs/<id>/`` and oversized members."""
    where = f"{label}: entry {name!r}"
    p = PurePosixPath(name)
    if name.startswith(("/", "\\")) or p.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise BundleError(where, expected="relative paths", found="an absolute path", fix=_NO)
    if ".." in p.parts or "\\" in name or "\x00" in name:
        raise BundleError(where, expected="paths inside the bundle", found="'..' (path traversal)", fix=_NO)
    if kind in ("sym", "link"):
        raise BundleError(where, expected="regular files", found=f"a {'symbolic' if kind == 'sym' else 'hard'} link",
                          fix=_NO)
    if kind not in ("file", "dir"):
        raise BundleError(where, expected="regular files", found="a device, fifo or other special file", fix=_NO)
    if kind == "file" and name != "manifest.json" and not (len(p.parts) >= 3 and p.parts[0] == "runs"):
        raise BundleError(where, expected="manifest.json or files under runs/<id>/", found="a file elsewhere", fix=_NO)
    if size > MAX_MEMBER_BYTES:
        raise BundleError(where, expected=f"members under {MAX_MEMBER_BYTES >> 20} MiB",
                          found=f"a declared size of {size} bytes (a decompression bomb, or not a medalist run)", fix=_NO)
    return p


def _pickle_kind(head: bytes) -> str | None:
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return f"a pickle (protocol {head[1]})"
    if head[:4] == b"PK\x03\x04":
        try:
            names = zipfile.ZipFile(io.BytesIO(head)).namelist() if len(head) < (64 << 10) else []
        except zipfile.BadZipFile:
            names = []
        if any(n.endswith("data.pkl") for n in names) or b"data.pkl" in head[:4096]:
            return "a torch pickle (zip holding data.pkl)"
    return None


def _text(head: bytes, complete: bool) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError:
        return False
    return b"\x00" not in head


def _safetensors_ok(head: bytes, size: int) -> bool:
    """An 8-byte header length, then a JSON object of tensors (checked fully when it fits in ``head``)."""
    if len(head) < 10:
        return False
    n = struct.unpack("<Q", head[:8])[0]
    if not 2 <= n <= (100 << 20) or n + 8 > size or head[8:9] != b"{":
        return False
    if n > len(head) - 8:
        return True
    try:
        header = json.loads(head[8:8 + n])
    except ValueError:
        return False
    return isinstance(header, dict) and all(k == "__metadata__" or (isinstance(v, dict) and "dtype" in v)
                                            for k, v in header.items())


def check_content(name: str, file: Path, head: bytes, tail: bytes, size: int, label: str) -> None:
    """Refuse a staged member that is a pickle or not the data format its suffix names."""
    where = f"{label}: {name}"
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise BundleError(where, expected="data files (configs, OOF, predictions, native model formats)",
                          found=f"a {suffix} file (a pickle format: loading it runs code chosen by its author)", fix=_NO)
    kind = _pickle_kind(head)
    if kind:
        raise BundleError(where, expected=f"a {suffix or 'data'} file", found=f"{kind}: loading it runs code chosen by its author",
                          fix=_NO)
    if suffix not in DATA_SUFFIXES:
        raise BundleError(where, expected=f"one of {', '.join(DATA_SUFFIXES)}", found=f"a {suffix or 'suffix-less'} file", fix=_NO)
    complete = len(head) >= size
    ok = {
        ".parquet": head[:4] == b"PAR1" and tail[-4:] == b"PAR1",
        ".cbm": head[:4] == b"CBM1",
        ".ubj": head[:1] == b"{",
        ".png": head[:8] == b"\x89PNG\r\n\x1a\n",
        ".safetensors": _safetensors_ok(head, size),
        ".skops": head[:4] == b"PK\x03\x04",
    }.get(suffix, _text(head, complete))
    if ok and suffix == ".json" and complete:
        try:
            json.loads(head)
        except ValueError:
            ok = False
    if not ok:
        raise BundleError(where, expected=f"a valid {suffix} file", found="other content", fix=_NO)
    if suffix == ".skops":
        _check_skops(file, where)


def _check_skops(file: Path, where: str) -> None:
    """Refuse a skops file over the size caps or holding a type outside the allow-list (read from its schema)."""
    from medalist.models.persist import skops_allowed

    try:
        with zipfile.ZipFile(file) as z:
            infos = z.infolist()
    except zipfile.BadZipFile as e:
        raise BundleError(where, expected="a skops zip", found=f"an unreadable zip ({e})", fix=_NO) from None
    total = sum(i.file_size for i in infos)
    if total > MAX_MEMBER_BYTES or any(i.file_size > 1000 * max(i.compress_size, 1) for i in infos if i.file_size > (1 << 20)):
        raise BundleError(where, expected=f"a skops file under {MAX_MEMBER_BYTES >> 20} MiB unpacked",
                          found=f"{total} bytes declared once unzipped (a zip bomb)", fix=_NO)
    import skops.io as sio

    try:
        types = sio.get_untrusted_types(file=file)
    except Exception as e:  # skops reads only the schema; any failure means a file we cannot vouch for
        raise BundleError(where, expected="a skops file medalist wrote", found=f"an unreadable schema ({type(e).__name__})",
                          fix=_NO) from None
    _, refused = skops_allowed(types)
    if refused:
        raise BundleError(where, expected="only scikit-learn, numpy and scipy types",
                          found=f"types {', '.join(refused[:5])} (loading them would run their code)", fix=_NO)
