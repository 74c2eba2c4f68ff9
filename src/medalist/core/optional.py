"""Optional dependencies, imported only where a feature needs them.

Heavy or optional libraries (torch, optuna, mlflow, matplotlib, kaggle, ...) are never imported at
module level, so ``medalist --help`` and the base install stay light. A feature that cannot work
without one calls :func:`require`, which names the pip extra that installs it; a feature that merely
gets better with one (a plot next to a table) asks :func:`available` and skips itself.

>>> require("json", extra="base").__name__
'json'
>>> available("no_such_module_xyz")
False
"""

from __future__ import annotations

import importlib
from types import ModuleType

from medalist.core.errors import MissingDependencyError

__all__ = ["require", "available"]


def _is_missing(exc: ImportError, module: str) -> bool:
    # "No module named 'torch'" for torch.nn means torch is not installed; "No module named
    # 'sympy'" while importing torch means torch is installed but broken, which pip install
    # 'medalist[vision]' may not fix, so the two get different messages.
    name = getattr(exc, "name", None)
    return isinstance(exc, ModuleNotFoundError) and name is not None and (
        module == name or module.startswith(name + ".")
    )


def require(module: str, *, extra: str, purpose: str = "", package: str | None = None) -> ModuleType:
    """Import ``module`` (dotted paths allowed) or raise :class:`MissingDependencyError`.

    ``extra`` is the medalist extra that installs it (``pip install 'medalist[extra]'``);
    ``package`` is the name to show when the distribution is not named like its top-level module
    (``ensemble-boxes`` for ``ensemble_boxes``).

    >>> require("no_such_module_xyz", extra="plot", purpose="the report")
    Traceback (most recent call last):
    ...
    medalist.core.errors.MissingDependencyError: package 'no_such_module_xyz': expected installed for the report, found it is not importable. Fix: pip install 'medalist[plot]'
    """
    shown = package or module.partition(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if _is_missing(exc, module):
            raise MissingDependencyError(shown, extra, purpose=purpose) from None
        raise MissingDependencyError(shown, extra, purpose=purpose, reason=f"importing it failed: {exc}") from exc


def available(module: str) -> bool:
    """True if ``module`` imports; for optional extras such as plots that are skipped without it.

    It imports the module (a later ``import`` is then free) rather than only finding it, so a
    broken install counts as missing instead of failing later.
    """
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
