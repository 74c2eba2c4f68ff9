"""Red-team cases for team bundles (``medalist import``): each forges a bundle from a genuine one.

Every case's ``build(ctx)`` writes a bundle and returns its path. The forgeries start from a real
``medalist export --models`` bundle and re-list the manifest with correct hashes (unless the case
is about the manifest), so each refusal comes from the check the case names, not an earlier one.
Payload pickles call ``open(canary, "w")`` when unpickled: if anything ran, the canary exists.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import pickle
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Ctx:
    genuine: Path      # a real `medalist export --models` bundle (runs fast-001: LightGBM, lin-001: sklearn/skops)
    tmp: Path          # where to write the forged bundle
    canary: Path       # created by any payload that runs


class _Payload:
    def __init__(self, canary: Path) -> None:
        self.canary = str(canary)

    def __reduce__(self):
        return (open, (self.canary, "w"))


def payload_pickle(canary: Path, protocol: int = 4) -> bytes:
    return pickle.dumps(_Payload(canary), protocol=protocol)


def torch_zip(canary: Path) -> bytes:
    """What ``torch.save`` writes: a zip whose ``archive/data.pkl`` is the (here malicious) pickle."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", payload_pickle(canary, 2))
        z.writestr("archive/version", "3\n")
    return buf.getvalue()


def read_members(bundle: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(bundle) as t:
        return [(m.name, t.extractfile(m).read()) for m in t.getmembers() if m.isfile()]


def relist(members: list[tuple[str, bytes]], **manifest_updates) -> list[tuple[str, bytes]]:
    """Rewrite manifest.json so it lists every regular file with its true sha256."""
    man = json.loads(dict(members)["manifest.json"])
    man["files"] = {n: hashlib.sha256(d).hexdigest() for n, d in members if n != "manifest.json"}
    man.update(manifest_updates)
    return [("manifest.json", json.dumps(man).encode())] + [(n, d) for n, d in members if n != "manifest.json"]


def write(path: Path, members: list[tuple[str, bytes]], extra: list[tarfile.TarInfo] = (), raw: bytes = b"") -> Path:
    """A .tar.gz of ``members`` (regular files), then ``extra`` header-only entries, then ``raw`` bytes
    (or the end-of-archive blocks). Headers are written by hand: tarfile would sanitise what we forge."""
    out = io.BytesIO()
    for name, data in members:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644
        out.write(info.tobuf(format=tarfile.GNU_FORMAT) + data + b"\0" * (-len(data) % 512))
    for info in extra:
        out.write(info.tobuf(format=tarfile.GNU_FORMAT))
    out.write(raw or b"\0" * 1024)
    path.write_bytes(gzip.compress(out.getvalue(), compresslevel=6))
    return path


def _add(ctx: Ctx, name: str, data: bytes) -> Path:
    return write(ctx.tmp / "forged.tar.gz", relist(read_members(ctx.genuine) + [(name, data)]))


def _replace(ctx: Ctx, suffix: str, data: bytes, new_name: str | None = None) -> Path:
    out = []
    for n, d in read_members(ctx.genuine):
        if n.endswith(suffix):
            n, d = (new_name or n), data
        out.append((n, d))
    return write(ctx.tmp / "forged.tar.gz", relist(out))


def _link(ctx: Ctx, kind: bytes, target: str) -> Path:
    info = tarfile.TarInfo("runs/fast-001/models/link.txt")
    info.type, info.linkname = kind, target
    return write(ctx.tmp / "forged.tar.gz", relist(read_members(ctx.genuine)), extra=[info])


def _declared_bomb(ctx: Ctx) -> Path:
    info = tarfile.TarInfo("runs/fast-001/models/huge.parquet")
    info.size = 5 << 30  # 5 GiB declared; the data would follow
    return write(ctx.tmp / "forged.tar.gz", relist(read_members(ctx.genuine)),
                 raw=info.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * (1 << 20))


def _pax_bomb(ctx: Ctx) -> Path:
    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = tarfile.XHDTYPE, 3 << 30  # tarfile reads a pax header whole, into memory
    return write(ctx.tmp / "forged.tar.gz", relist(read_members(ctx.genuine)),
                 raw=info.tobuf(format=tarfile.USTAR_FORMAT) + b"\0" * (1 << 20))


def _stream_bomb(ctx: Ctx) -> Path:
    # 48 MiB of zeros (~50 KB compressed), honestly declared: under the per-member cap, over the stream cap
    return _add(ctx, "runs/fast-001/importance2.parquet", b"PAR1" + b"\0" * (48 << 20) + b"PAR1")


def _skops_untrusted(ctx: Ctx) -> Path:
    import os

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    return _replace(ctx, "/model.skops", sio.dumps(FunctionTransformer(func=os.system)))


def _fifo(ctx: Ctx) -> Path:
    info = tarfile.TarInfo("runs/fast-001/models/pipe.txt")
    info.type = tarfile.FIFOTYPE
    return write(ctx.tmp / "forged.tar.gz", relist(read_members(ctx.genuine)), extra=[info])


def _hash_mismatch(ctx: Ctx) -> Path:
    members = relist(read_members(ctx.genuine))
    return write(ctx.tmp / "forged.tar.gz", [(n, b'{"oof": 0.99}' if n.endswith("fast-001/metrics.json") else d)
                                             for n, d in members])


def _unlisted(ctx: Ctx) -> Path:
    members = relist(read_members(ctx.genuine))
    return write(ctx.tmp / "forged.tar.gz", members + [("runs/fast-001/notes.json", b"{}")])


def _evil_config(ctx: Ctx) -> Path:
    members = read_members(ctx.genuine)
    out = [(n, d.replace(b"name: lightgbm", b"name: sklearn:os:system") if n == "runs/fast-001/config.yaml" else d)
           for n, d in members]
    return write(ctx.tmp / "forged.tar.gz", relist(out))


def _yaml_tag(ctx: Ctx) -> Path:
    out = [(n, d + f"note: !!python/object/apply:builtins.open ['{ctx.canary}', 'w']\n".encode()
            if n == "runs/fast-001/config.yaml" else d) for n, d in read_members(ctx.genuine)]
    return write(ctx.tmp / "forged.tar.gz", relist(out))


def _duplicate(ctx: Ctx) -> Path:
    members = relist(read_members(ctx.genuine))
    good = dict(members)["runs/fast-001/metrics.json"]
    return write(ctx.tmp / "forged.tar.gz", members + [("runs/fast-001/metrics.json", good)])


CASES = [
    {"id": "joblib-model", "attack": "a model.joblib pickle whose unpickling runs a payload",
     "refused_by": "bundle_safety.check_content: pickle formats are refused by name", "match": r"\.joblib file \(a pickle",
     "build": lambda c: _add(c, "runs/lin-001/models/r0_f0_s42/model.joblib", payload_pickle(c.canary))},
    {"id": "pkl-file", "attack": "an extra .pkl file beside a run's predictions",
     "refused_by": "bundle_safety.check_content: pickle formats are refused by name", "match": r"\.pkl file",
     "build": lambda c: _add(c, "runs/fast-001/extra.pkl", payload_pickle(c.canary))},
    {"id": "torch-pt-payload", "attack": "a torch weights.pt (zip with data.pkl) carrying a payload",
     "refused_by": "bundle_safety.check_content: .pt is a pickle format", "match": r"\.pt file",
     "build": lambda c: _add(c, "runs/fast-001/models/r0_f0_s42/weights.pt", torch_zip(c.canary))},
    {"id": "pickle-renamed-safetensors", "attack": "a pickle renamed weights.safetensors",
     "refused_by": "bundle_safety.check_content: content sniffed as a pickle whatever its name", "match": r"a pickle \(protocol 4\)",
     "build": lambda c: _add(c, "runs/fast-001/models/r0_f0_s42/weights.safetensors", payload_pickle(c.canary))},
    {"id": "torch-zip-renamed-txt", "attack": "a torch pickle zip renamed model.txt (LightGBM's name)",
     "refused_by": "bundle_safety.check_content: zip holding data.pkl sniffed", "match": r"torch pickle",
     "build": lambda c: _replace(c, "r0_f0_s42/model.txt", torch_zip(c.canary))},
    {"id": "skops-untrusted-types", "attack": "a model.skops holding posix.system (a FunctionTransformer calling it)",
     "refused_by": "bundle_safety._check_skops: types outside the sklearn/numpy/scipy allow-list", "match": r"posix\.system",
     "build": _skops_untrusted},
    {"id": "python-file", "attack": "a .py file among the model files", "refused_by": "bundle_safety.check_content: data suffixes only",
     "match": r"a \.py file", "build": lambda c: _add(c, "runs/fast-001/models/sitecustomize.py", b"open('x','w')\n")},
    {"id": "symlink", "attack": "a member that is a symbolic link to /etc/passwd",
     "refused_by": "bundle_safety.check_name: regular files only", "match": r"symbolic link",
     "build": lambda c: _link(c, tarfile.SYMTYPE, "/etc/passwd")},
    {"id": "hardlink", "attack": "a member that is a hard link to another entry",
     "refused_by": "bundle_safety.check_name: regular files only", "match": r"hard link",
     "build": lambda c: _link(c, tarfile.LNKTYPE, "manifest.json")},
    {"id": "fifo", "attack": "a fifo (special file) member", "refused_by": "bundle_safety.check_name: regular files only",
     "match": r"special file", "build": _fifo},
    {"id": "path-traversal", "attack": "a member named runs/fast-001/../../../evil.txt",
     "refused_by": "bundle_safety.check_name: no '..'", "match": r"path traversal",
     "build": lambda c: _add(c, "runs/fast-001/../../../evil.txt", b"x")},
    {"id": "absolute-path", "attack": "a member with an absolute path", "refused_by": "bundle_safety.check_name: relative paths only",
     "match": r"absolute path", "build": lambda c: _add(c, "/tmp/medalist-evil.txt", b"x")},
    {"id": "outside-runs", "attack": "a file outside runs/<id>/ (e.g. a workspace's medalist.yaml)",
     "refused_by": "bundle_safety.check_name: manifest.json or runs/<id>/ only", "match": r"a file elsewhere",
     "build": lambda c: _add(c, "medalist.yaml", b"competition: {}\n")},
    {"id": "hash-mismatch", "attack": "metrics.json edited after the manifest was written",
     "refused_by": "bundle._stage: sha256 of every member against the manifest", "match": r"sha256",
     "build": _hash_mismatch},
    {"id": "unlisted-file", "attack": "a file the manifest does not list", "refused_by": "bundle._read_bundle: manifest listing",
     "match": r"unlisted file", "build": _unlisted},
    {"id": "duplicate-member", "attack": "a second copy of a member (the later one would win on extraction)",
     "refused_by": "bundle._read_bundle: each name once", "match": r"second copy", "build": _duplicate},
    {"id": "declared-size-bomb", "attack": "a member declaring 5 GiB (a gzip bomb's decompressed size)",
     "refused_by": "bundle_safety.check_name: declared size cap before reading", "match": r"declared size", "build": _declared_bomb},
    {"id": "pax-header-bomb", "attack": "a pax header declaring 3 GiB, which tarfile would read whole into memory",
     "refused_by": "bundle_safety._Capped: per-read cap", "match": r"header bomb", "build": _pax_bomb},
    {"id": "stream-bomb", "attack": "48 MiB of zeros compressed to ~50 KB, honestly declared (stream cap lowered to 16 MiB)",
     "refused_by": "bundle_safety._Capped: streaming cap on decompressed bytes", "match": r"decompression bomb",
     "build": _stream_bomb, "caps": {"MAX_STREAM_BYTES": 16 << 20}},
    {"id": "config-os-system", "attack": "a run config whose model is sklearn:os:system",
     "refused_by": "bundle.check_bundle_config: dotted paths re-checked by this workspace", "match": r"can run commands",
     "build": _evil_config},
    {"id": "config-yaml-python-tag", "attack": "a run config with a !!python/object/apply tag calling open()",
     "refused_by": "core.config.load_yaml: safe YAML loader", "match": r"YAML", "build": _yaml_tag},
]
