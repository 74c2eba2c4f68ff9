"""Persistence safety for model adapters: what a skops file may hold, and the pickle fallback's warning."""

from __future__ import annotations

from medalist.core.errors import ConfigError

__all__ = ["PickleFallbackWarning", "SKOPS_MODULES", "SKOPS_REFUSED_PARTS", "skops_allowed"]


class PickleFallbackWarning(UserWarning):
    """A scikit-learn model was saved as a pickle because skops could not hold it safely."""


# Modules whose types a skops file may hold (checked by name before anything in the file is built).
SKOPS_MODULES = ("sklearn", "numpy", "scipy")
# ... except their parts that run code, load files or compile (numpy.testing's runstring is exec).
SKOPS_REFUSED_PARTS = frozenset({"testing", "f2py", "distutils", "ctypeslib", "npyio", "_pytesttester", "conftest",
                                 "externals", "_build_utils", "weave", "_testutils"})


def skops_allowed(types: list[str], spec: str | None = None) -> tuple[list[str], list[str]]:
    """Split a skops file's untrusted type names into (allowed, refused).

    Allowed: types of scikit-learn, numpy and scipy, and of the top-level package of the configured
    estimator ``spec`` (itself checked by :func:`~medalist.core.safety.check_dotted`). Everything
    else — ``posix.system``, ``builtins.eval``, a class in ``__main__``, numpy's ``testing.runstring``
    (an ``exec``) — is refused.

    >>> skops_allowed(["sklearn.tree._tree.Tree", "posix.system", "numpy.dtype"])
    (['sklearn.tree._tree.Tree', 'numpy.dtype'], ['posix.system'])
    """
    from medalist.core.safety import REFUSED_MODULES, check_dotted

    tops = set(SKOPS_MODULES)
    if spec and ("." in spec or ":" in spec):
        try:
            module, _ = check_dotted(spec, where="model spec")
            tops.add(module.split(".")[0])
        except ConfigError:
            pass
    allowed, refused = [], []
    for t in types:
        parts = str(t).split(".")
        # numpy/scipy are loader libraries for dotted paths, but their types (dtype, arrays) are what a model holds;
        # their loading parts are refused by name (SKOPS_REFUSED_PARTS)
        known = parts[0] in SKOPS_MODULES or parts[0] not in REFUSED_MODULES
        ok = parts[0] in tops and known and not SKOPS_REFUSED_PARTS.intersection(parts)
        (allowed if ok else refused).append(t)
    return allowed, refused
