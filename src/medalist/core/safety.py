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
    """Refuse to unpickle a file that is not inside a medalist workspace, unless allowed.

    Unpickling runs code chosen by whoever wrote the file. Files medalist wrote into a workspace's
    ``runs/`` are the user's own; anything else (a downloaded model, a teammate's folder) needs
    ``allow=True`` or ``MEDALIST_ALLOW_PICKLE=1`` — an explicit decision to trust it.
    """
    import os
    from pathlib import Path

    from medalist.core.errors import DataError

    if allow or os.environ.get("MEDALIST_ALLOW_PICKLE") == "1":
        return
    p = Path(path).resolve()
    for parent in p.parents:
        if (parent / "medalist.yaml").is_file() and (parent / "runs") in [p, *p.parents]:
            return
    raise DataError(str(path), expected="a pickle file inside a medalist workspace's runs/ folder",
                    found="a file from elsewhere (unpickling runs code chosen by whoever wrote it)",
                    fix="if you trust it, set MEDALIST_ALLOW_PICKLE=1 for this command")
