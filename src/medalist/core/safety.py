"""Guards for code named in configs: dotted paths (``sklearn:``, ``custom:``, metric functions).

A config is data that teams pass around (bundles, shared repos); a dotted path in it must name
modelling code, never the process, shell, file-system or import machinery. :func:`check_dotted`
refuses modules of the standard library that can run commands or load code, private names, and
built-in functions, before anything is imported.
"""

from __future__ import annotations

import types
from typing import Any

from medalist.core.errors import ConfigError

__all__ = ["check_dotted", "check_resolved", "REFUSED_MODULES"]

# Top-level modules whose callables can run programs, touch arbitrary files, load code or reach the network.
REFUSED_MODULES = frozenset({
    "os", "posix", "nt", "sys", "subprocess", "shutil", "builtins", "__builtin__", "importlib", "imp", "pkgutil",
    "pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib", "socket", "ssl", "ctypes",
    "cffi", "runpy", "code", "codeop", "pty", "pdb", "multiprocessing", "concurrent", "signal", "pathlib", "io",
    "tempfile", "glob", "fileinput", "webbrowser", "http", "urllib", "urllib3", "requests", "ftplib", "smtplib",
    "telnetlib", "asyncio", "threading", "_thread", "gc", "inspect", "types", "functools", "operator", "platform",
    "sysconfig", "site", "venv", "ensurepip", "distutils", "setuptools", "pip", "zipimport", "eval", "exec",
})


def check_dotted(spec: str, *, where: str) -> tuple[str, str]:
    """Split ``module:attr`` / ``module.attr`` and refuse dangerous targets; returns (module, attr).

    >>> check_dotted("sklearn.linear_model:Ridge", where="model")
    ('sklearn.linear_model', 'Ridge')
    >>> check_dotted("os:system", where="model")
    Traceback (most recent call last):
    ...
    medalist.core.errors.ConfigError: model: expected a modelling function or class, found 'os:system' (module 'os' can run commands, read files or load code). Fix: point at your own module or a modelling library
    """
    module, _, attr = spec.partition(":") if ":" in spec else spec.rpartition(".")
    if not module or not attr:
        raise ConfigError(where, expected="'package.module:name' or 'package.module.name'", found=repr(spec),
                          fix="write the full import path")
    top = module.split(".")[0]
    if top in REFUSED_MODULES or top.startswith("_"):
        raise ConfigError(where, expected="a modelling function or class", found=f"'{spec}' (module '{top}' can run commands, "
                          "read files or load code)", fix="point at your own module or a modelling library")
    if any(p.startswith("_") for p in attr.split(".")) or any(p.startswith("__") for p in module.split(".")):
        raise ConfigError(where, expected="a public name", found=f"'{spec}' (a private or dunder name)",
                          fix="point at a public function or class")
    return module, attr


def check_resolved(obj: Any, spec: str, *, where: str) -> Any:
    """Refuse what a harmless-looking path resolved to: built-ins re-exported by other modules
    (``numpy:system``-style aliases of ``os.system``, ``eval``, ``exec``, ``open``, ``__import__``)."""
    mod = getattr(obj, "__module__", None) or ""
    if isinstance(obj, types.BuiltinFunctionType) and (mod.split(".")[0] in REFUSED_MODULES or mod in ("", "builtins")):
        raise ConfigError(where, expected="a modelling function or class",
                          found=f"'{spec}' resolves to the built-in {mod or 'builtins'}.{getattr(obj, '__name__', '?')}",
                          fix="point at your own module or a modelling library")
    if isinstance(obj, types.ModuleType):
        raise ConfigError(where, expected="a function or class", found=f"'{spec}' is a module", fix="name a function in it")
    if mod.split(".")[0] in REFUSED_MODULES:
        raise ConfigError(where, expected="a modelling function or class",
                          found=f"'{spec}' resolves to {mod}.{getattr(obj, '__name__', '?')}",
                          fix="point at your own module or a modelling library")
    return obj


def check_pickle_source(path, *, allow: bool = False) -> None:
    """Refuse to unpickle a file this workspace did not write itself, unless allowed.

    Unpickling runs code chosen by whoever wrote the file. A pickle loads only when its SHA-256 is
    in the ledger of the workspace holding it (``.medalist/pickles.jsonl``, written by
    :func:`record_pickle` when medalist saved the file); where it sits proves nothing (a teammate's
    folder copied under ``runs/`` is still theirs), the recorded bytes are what is trusted. Anything else needs ``allow=True`` or
    ``MEDALIST_ALLOW_PICKLE=1`` — an explicit decision to trust it.
    """
    import os
    from pathlib import Path

    from medalist.core.errors import DataError

    if allow or os.environ.get("MEDALIST_ALLOW_PICKLE") == "1":
        return
    p = Path(path)
    root = workspace_root_of(p)
    fix = "if you trust it, set MEDALIST_ALLOW_PICKLE=1 for this command"
    if root is None:
        raise DataError(str(path), expected="a pickle this medalist workspace wrote itself",
                        found="a file outside any workspace (unpickling runs code chosen by whoever wrote it)", fix=fix)
    digest = sha256_file(p)
    if digest not in _ledger(root):
        raise DataError(str(path), expected=f"a pickle whose sha256 is recorded in {root / PICKLE_LEDGER}",
                        found=f"sha256 {digest[:12]}… not recorded here (written elsewhere, or changed since; "
                              "unpickling runs code chosen by whoever wrote it)", fix=fix)


# -- hashes of the pickles medalist writes ----------------------------------------------------------

PICKLE_LEDGER = ".medalist/pickles.jsonl"
__all__ += ["check_pickle_source", "record_pickle", "sha256_file", "workspace_root_of", "PICKLE_LEDGER"]


def sha256_file(path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def workspace_root_of(path):
    """The nearest folder above ``path`` (as written, links not followed) holding ``medalist.yaml``, or None."""
    from pathlib import Path

    for parent in Path(path).absolute().parents:
        if (parent / "medalist.yaml").is_file():
            return parent
    return None


def _ledger_key(root, path) -> str:
    import os

    return os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")


def record_pickle(path):
    """Record the SHA-256 of a pickle medalist just wrote, in its workspace's ledger; returns the digest.

    One JSON line appended per file (a single ``write`` of a short line, so concurrent fold processes
    do not interleave). Outside a workspace nothing is recorded and the file will need an explicit
    ``MEDALIST_ALLOW_PICKLE=1`` to load.
    """
    import json
    import os

    digest = sha256_file(path)
    root = workspace_root_of(path)
    if root is not None:
        ledger = root / PICKLE_LEDGER
        ledger.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"path": _ledger_key(root, path), "sha256": digest}) + "\n"
        fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    return digest


def _ledger(root) -> set[str]:
    """The digests this workspace recorded (the path beside each is informational: the bytes are what
    medalist vouches for, wherever the file now sits); a torn or malformed line vouches for nothing."""
    import json

    out: set[str] = set()
    try:
        lines = (root / PICKLE_LEDGER).read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            out.add(str(json.loads(line)["sha256"]))
        except (ValueError, KeyError, TypeError):
            continue
    return out
