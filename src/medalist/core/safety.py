"""Guards for code named in configs: dotted paths (``sklearn:``, ``custom:``, metric functions).

A config is data that teams pass around; a dotted path in it must name modelling code and nothing
else. The guard is an allow-list, checked on the *string* before anything is imported:

- the libraries in :data:`ALLOWED` (scikit-learn, LightGBM, XGBoost, CatBoost, timm, medalist's
  models and metrics), minus their loaders, dataset fetchers, utilities and re-exports
  (:data:`DENIED_PARTS`);
- modules the workspace owner lists in ``medalist.yaml`` (``trust: [my_pkg]``), never in an
  experiment config. Opening a workspace makes its list the active one (:func:`set_trust`);
  :func:`trusted` scopes a list to a ``with`` block (for library use without a workspace).

Anything else is refused before import, with the ``trust:`` line to add when it is a plain module.
After import, :func:`check_resolved` checks what the path names by kind: an estimator class (``fit``
and ``predict``/``transform``), a metric function ``(y_true, y_pred, ...)`` or a feature function
``(frame, params)``; factories and feature functions only from trusted modules.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import re
import sys
import types
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, NamedTuple

from medalist.core.errors import ConfigError

__all__ = [
    "ALLOWED", "DENIED_PARTS", "REFUSED_MODULES", "Kind", "check_dotted", "check_resolved", "check_trust_entry",
    "current_trust", "check_config_paths", "check_params", "import_checked", "restore_trust", "set_trust", "trusted", "Trust", "check_pickle_source",
]

Kind = Literal["any", "estimator", "metric", "feature"]

# Modelling libraries a config may name, per kind of object: module prefixes (a prefix covers its submodules).
ALLOWED: dict[str, tuple[str, ...]] = {
    "estimator": ("sklearn", "lightgbm", "xgboost", "catboost", "timm", "medalist.models"),
    "metric": ("sklearn.metrics", "medalist.metrics"),
    "feature": (),  # custom feature functions come from trusted modules only
}
ALLOWED["any"] = tuple(dict.fromkeys(p for k in ("estimator", "metric") for p in ALLOWED[k]))
_LIBRARIES = "scikit-learn, LightGBM, XGBoost, CatBoost, timm or medalist"
_LIBRARY_TOPS = frozenset(p.split(".")[0] for p in ALLOWED["any"])

# Parts of a dotted path (module or attribute) that are never modelling code inside the allowed
# libraries: file loaders and savers, dataset fetchers (network), vendored or re-exported modules,
# distributed back-ends that open sockets, test helpers.
DENIED_PARTS = frozenset({
    "externals", "utils", "datasets", "io", "testing", "tests", "conftest", "dask", "spark", "pyspark", "tracker",
    "collective", "federated", "rabit", "plotting", "callback", "cli", "hub", "serialization", "compat", "core_io",
    "np", "numpy", "pd", "pandas", "sp", "scipy", "torch", "joblib", "load", "fetch", "read", "dump",
})
# Short names modules are imported under: an attribute path through one reaches another module.
_ALIASES = frozenset({"np", "pd", "sp", "pl", "pa", "tf", "mp"})

# Modules that load files, run commands or load code: named as such in errors, and never trustable.
REFUSED_MODULES = frozenset({
    "os", "posix", "nt", "sys", "subprocess", "shutil", "builtins", "__builtin__", "importlib", "imp", "pkgutil",
    "pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib", "socket", "ssl", "ctypes",
    "cffi", "runpy", "code", "codeop", "pty", "pdb", "multiprocessing", "concurrent", "signal", "pathlib", "io",
    "tempfile", "glob", "fileinput", "webbrowser", "http", "urllib", "urllib3", "requests", "ftplib", "smtplib",
    "telnetlib", "asyncio", "threading", "_thread", "gc", "inspect", "types", "functools", "operator", "platform",
    "sysconfig", "site", "venv", "ensurepip", "distutils", "setuptools", "pip", "zipimport", "eval", "exec",
    "numpy", "pandas", "polars", "pyarrow", "scipy", "torch", "torchvision", "tensorflow", "keras", "jax", "h5py",
    "tables", "skops", "safetensors", "yaml", "mlflow", "kaggle", "httpx", "aiohttp", "boto3", "fsspec", "cv2", "PIL",
})

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class Trust(NamedTuple):
    """The trusted modules in effect and the workspace folder they may live in."""

    modules: tuple[str, ...] = ()
    root: Path | None = None


# Process-wide, like the workspace a session works in (a context variable would be lost between
# notebook cells, which run as separate tasks).
_trust = Trust()


def check_trust_entry(name: str) -> str:
    """Check one ``trust:`` entry of medalist.yaml: a module of your own code; returns it.

    >>> check_trust_entry("my_pkg.features")
    'my_pkg.features'
    >>> check_trust_entry("numpy")
    Traceback (most recent call last):
    ...
    ValueError: a module of your own code, not 'numpy' (a library or standard module that can load files or run code)
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"a module name such as my_pkg or my_pkg.models, not {name!r}")
    top = name.split(".")[0]
    if top in REFUSED_MODULES or top in sys.stdlib_module_names or top.startswith("_"):
        raise ValueError(f"a module of your own code, not {name!r} (a library or standard module that can load files or run code)")
    if top in _LIBRARY_TOPS:
        raise ValueError(f"a module of your own code, not {name!r} (its modelling code is allowed already; the rest stays refused)")
    return name


def set_trust(modules: Iterable[str], *, root: Path | None = None) -> Trust:
    """Make ``modules`` (medalist.yaml's ``trust:``) the trusted ones from now on, in this process;
    ``root`` (the workspace) is appended to ``sys.path`` when a trusted module is imported. Returns the
    previous :class:`Trust`, for :func:`restore_trust`."""
    global _trust
    new = Trust(tuple(check_trust_entry(m) for m in modules), Path(root) if root is not None else None)
    previous, _trust = _trust, new
    return previous


def restore_trust(previous: Trust) -> None:
    """Put back what :func:`set_trust` returned."""
    global _trust
    _trust = previous


@contextlib.contextmanager
def trusted(modules: Iterable[str], *, root: Path | None = None) -> Iterator[tuple[str, ...]]:
    """Trust ``modules`` inside the ``with`` block only (for code that uses medalist without a workspace).

    >>> with trusted(["their_pkg"]):
    ...     check_dotted("their_pkg.models:make", where="model", kind="estimator")
    ('their_pkg.models', 'make')
    >>> "their_pkg" in current_trust()
    False
    """
    previous = set_trust(modules, root=root)
    try:
        yield current_trust()
    finally:
        restore_trust(previous)


def current_trust() -> tuple[str, ...]:
    """The trusted module names now in effect (the opened workspace's ``trust:`` list)."""
    return _trust.modules


def _under(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _is_trusted(module: str) -> bool:
    return _under(module, current_trust())


def _refuse(where: str, spec: str, why: str, fix: str, expected: str = "modelling code") -> ConfigError:
    return ConfigError(where, expected=expected, found=f"'{spec}' ({why}; nothing was imported)", fix=fix)


def _split(spec: str, where: str) -> tuple[str, str]:
    module, _, attr = spec.partition(":") if ":" in spec else spec.rpartition(".")
    if not module or not attr or not _NAME.fullmatch(module) or not _NAME.fullmatch(attr):
        raise ConfigError(where, expected="'package.module:name' or 'package.module.name'", found=repr(spec),
                          fix="write the full import path")
    return module, attr


def check_dotted(spec: str, *, where: str, kind: Kind = "any") -> tuple[str, str]:
    """Split ``module:attr`` / ``module.attr`` and refuse, before any import, whatever is not allowed
    modelling code of ``kind`` or in a trusted module; returns (module, attr).

    >>> check_dotted("sklearn.linear_model:Ridge", where="model", kind="estimator")
    ('sklearn.linear_model', 'Ridge')
    >>> check_dotted("os:system", where="model")
    Traceback (most recent call last):
    ...
    medalist.core.errors.ConfigError: model: expected modelling code, found 'os:system' (module 'os' can run commands, read files or load code; nothing was imported). Fix: point at an estimator class, a metric function or a module medalist.yaml trusts
    >>> check_dotted("my_pkg.models:Net", where="model")
    Traceback (most recent call last):
    ...
    medalist.core.errors.ConfigError: model: expected modelling code from scikit-learn, LightGBM, XGBoost, CatBoost, timm or medalist, or a module medalist.yaml trusts, found 'my_pkg.models:Net' (module 'my_pkg' is not trusted; nothing was imported). Fix: if my_pkg is your own code, add the line `trust: [my_pkg]` to the workspace's medalist.yaml (not to an experiment config)
    """
    module, attr = _split(spec, where)
    parts, top = module.split(".") + attr.split("."), module.split(".")[0]
    if any(p.startswith("_") for p in parts):
        raise ConfigError(where, expected="a public name", found=f"'{spec}' (a private or dunder name)",
                          fix="point at a public function or class")
    if top in REFUSED_MODULES or top in sys.stdlib_module_names:
        raise _refuse(where, spec, f"module '{top}' can run commands, read files or load code",
                      "point at an estimator class, a metric function or a module medalist.yaml trusts")
    if _is_trusted(module):
        alias = next((p for p in attr.split(".") if p in REFUSED_MODULES or p in _ALIASES), None)
        if alias is not None:
            raise _refuse(where, spec, f"'{alias}' is a re-exported module, not modelling code", "name the class or function itself")
        return module, attr
    if top not in _LIBRARY_TOPS:
        raise _refuse(where, spec, f"module '{top}' is not trusted",
                      f"if {top} is your own code, add the line `trust: [{top}]` to the workspace's medalist.yaml "
                      "(not to an experiment config)", expected=f"modelling code from {_LIBRARIES}, or a module medalist.yaml trusts")
    denied = next((p for p in parts if p in DENIED_PARTS or p in REFUSED_MODULES), None)
    if denied is not None or not _under(module, ALLOWED["any"]):
        why = f"'{denied}' is not modelling code: it loads files, fetches data or re-exports other modules" if denied \
            else f"'{module}' is not one of the modelling modules ({', '.join(ALLOWED['any'])})"
        raise _refuse(where, spec, why, "point at an estimator class (e.g. sklearn.linear_model.Ridge) or a metric in sklearn.metrics")
    if not _under(module, ALLOWED[kind]):
        _wrong_scope(spec, where, kind, module)
    return module, attr


def _wrong_scope(spec: str, where: str, kind: Kind, module: str) -> None:
    if kind == "feature":
        raise _refuse(where, spec, f"a custom feature function must come from a module medalist.yaml trusts, not '{module}'",
                      "point at your own function fn(frame, params) in a module listed under `trust:` in medalist.yaml",
                      expected=_EXPECTED[kind])
    raise _refuse(where, spec, f"{_EXPECTED[kind]} must come from {', '.join(ALLOWED[kind])} or a module medalist.yaml trusts, "
                  f"not '{module}'", _FIX[kind], expected=_EXPECTED[kind])


def import_checked(module: str) -> types.ModuleType:
    """Import a module that :func:`check_dotted` accepted; a trusted one may live in the workspace
    folder, which is appended to ``sys.path`` (installed packages keep precedence)."""
    mods, root = _trust
    if root is not None and _under(module, mods) and str(root) not in sys.path:
        sys.path.append(str(root))
    return importlib.import_module(module)


def _positional(fn: Any) -> list[str] | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in sig.parameters.values() if p.kind in kinds]


def _kind_problem(obj: Any, kind: Kind, trusted_obj: bool) -> str | None:
    """Why ``obj`` is not a ``kind`` (None when it is one)."""
    is_fn = isinstance(obj, types.FunctionType)
    if kind == "estimator":
        if inspect.isclass(obj):
            has = [m for m in ("fit", "predict", "predict_proba", "transform") if callable(getattr(obj, m, None))]
            return None if "fit" in has and len(has) > 1 else "a class without fit and predict/transform (not an estimator)"
        return None if is_fn and trusted_obj else "not an estimator class (factory functions only from trusted modules)"
    if kind == "metric":
        names = _positional(obj) if is_fn else None
        if not names or len(names) < 2:
            return "not a metric function fn(y_true, y_pred, ...)"
        return None if trusted_obj or names[0] in ("y_true", "labels_true") else f"a function of ({', '.join(names[:2])}, ...), not (y_true, y_pred, ...)"
    if kind == "feature":
        names = _positional(obj) if is_fn else None
        return None if names and len(names) >= 2 and trusted_obj else "not a feature function fn(frame, params) in a trusted module"
    return None if (inspect.isclass(obj) or is_fn) else f"a {type(obj).__name__}, not a function or class"


_EXPECTED = {"any": "a function or class", "estimator": "an estimator class (fit and predict or transform)",
             "metric": "a metric function fn(y_true, y_pred, ...)", "feature": "a feature function fn(frame, params)"}
_FIX = {"any": "point at an estimator class or a metric function",
        "estimator": "point at an estimator class (e.g. sklearn.linear_model.Ridge), or a factory in a trusted module",
        "metric": "point at a metric function such as sklearn.metrics.roc_auc_score, or one in a trusted module",
        "feature": "point at your own function fn(frame, params) in a module listed under `trust:` in medalist.yaml"}
# Estimator parameters that make scikit-learn load pickles from a folder (joblib.Memory caches).
LOADING_PARAMS = frozenset({"memory"})


def check_params(params: dict[str, Any], *, where: str) -> dict[str, Any]:
    """Refuse estimator parameters that load files as code (``memory``: a joblib cache of pickles).

    >>> check_params({"alpha": 1.0}, where="model")
    {'alpha': 1.0}
    """
    for key, value in params.items():
        if str(key).rpartition("__")[2] in LOADING_PARAMS and value is not None:
            raise ConfigError(f"{where}: params.{key}", expected="no cache folder (it holds pickles that would be loaded)",
                              found=repr(value), fix=f"remove '{key}' (a factory in a trusted module may set it)")
    return params


def check_resolved(obj: Any, spec: str, *, where: str, kind: Kind = "any") -> Any:
    """Refuse what an accepted path resolved to unless it is modelling code of ``kind`` defined in an
    allowed library or a trusted module (re-exports of ``os.system``, ``numpy.load``, modules, built-ins)."""
    if isinstance(obj, types.ModuleType):
        raise ConfigError(where, expected="a function or class", found=f"'{spec}' is a module", fix="name a function in it")
    mod = getattr(obj, "__module__", None) or "builtins"
    name = f"{mod}.{getattr(obj, '__qualname__', getattr(obj, '__name__', '?'))}"
    trusted_obj = _is_trusted(mod)
    library = _under(mod, ALLOWED["any"]) and not any(p in DENIED_PARTS for p in mod.split("."))
    if isinstance(obj, types.BuiltinFunctionType) or not (trusted_obj or library):
        raise ConfigError(where, expected="modelling code", found=f"'{spec}' resolves to {name}, which is neither in "
                          f"{_LIBRARIES} nor in a trusted module", fix="point at the estimator, metric or function itself")
    problem = _kind_problem(obj, kind, trusted_obj)
    if problem is not None:
        raise ConfigError(where, expected=_EXPECTED[kind],
                          found=f"'{spec}' resolves to {name}: {problem}",
                          fix=_FIX[kind])
    return obj


def check_config_paths(data: dict[str, Any], *, where: str) -> None:
    """Check every dotted path of a config dict (an experiment config, or a run's resolved config.yaml
    with its ``competition``) against the trust list in effect, importing nothing: ``sklearn:`` model
    names and their params, ``custom`` feature functions, a metric named by path; ``trust:`` is refused.
    For configs that arrive from elsewhere (bundles) before anything uses them.

    >>> check_config_paths({"model": {"name": "sklearn:sklearn.svm.SVC"}, "competition": {"metric": "auc"}}, where="x.yaml")
    >>> check_config_paths({"model": {"name": "lightgbm"}, "features": [{"block": "custom", "function": "evil:f"}]}, where="x.yaml")
    Traceback (most recent call last):
    ...
    medalist.core.errors.ConfigError: x.yaml: features[0].function: expected modelling code from scikit-learn, LightGBM, XGBoost, CatBoost, timm or medalist, or a module medalist.yaml trusts, found 'evil:f' (module 'evil' is not trusted; nothing was imported). Fix: if evil is your own code, add the line `trust: [evil]` to the workspace's medalist.yaml (not to an experiment config)
    """
    if "trust" in data:
        raise ConfigError(f"{where}: key 'trust'", expected="trust: only in the workspace's medalist.yaml",
                          found=f"trust: {data['trust']!r}", fix="remove it; the receiver's medalist.yaml decides what is trusted")
    model = data.get("model") if isinstance(data.get("model"), dict) else {}
    name = str(model.get("name", ""))
    if name.startswith("sklearn:") and any(c in name[8:] for c in ".:"):
        check_dotted(name[8:], where=f"{where}: model.name", kind="estimator")
        check_params(model.get("params") or {}, where=f"{where}: model")
    for i, block in enumerate(data.get("features") or []):
        if isinstance(block, dict) and block.get("block") == "custom":
            check_dotted(str(block.get("function", "")), where=f"{where}: features[{i}].function", kind="feature")
    comp = data.get("competition") if isinstance(data.get("competition"), dict) else {}
    metric = comp.get("metric")
    metric = metric.get("name") if isinstance(metric, dict) else metric
    if isinstance(metric, str) and any(c in metric for c in ".:"):
        check_dotted(metric, where=f"{where}: competition.metric", kind="metric")


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
