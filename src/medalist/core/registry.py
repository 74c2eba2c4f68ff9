"""String-keyed registries: one mechanism for models, metrics, feature blocks and blenders.

YAML refers to components by name; ``Registry.get`` resolves the name and, when it is unknown,
raises a :class:`~medalist.core.errors.ConfigError` listing what is available with a did-you-mean.

A name may carry an argument after a colon (``sklearn:sklearn.linear_model.Ridge``): the part
before the colon is looked up and the part after it is passed to the entry as ``spec``.

Entries that live in heavy or higher-layer modules are declared lazily: ``register_lazy(name,
"package.module")`` imports the module (which registers ``name`` itself) the first time ``name`` is
looked up, and ``register_lazy(name, "package.module:attr")`` registers that attribute as the entry.
A lower layer can so name a component of a higher one (the metric ``ndcg@k`` of
:mod:`medalist.recsys.metrics`) without importing it.

Every kind of extensible component follows the same recipe (docs/extending.md): a ``Registry``,
a ``register_<kind>`` decorator, ``list_<kind>s()`` and ``get_<kind>(name)``.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from medalist.core.errors import ConfigError, did_you_mean

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of components of one kind.

    >>> r = Registry("toy")
    >>> @r.register("double")
    ... def double(x): return 2 * x
    >>> r.get("double")(3)
    6
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._lazy: dict[str, Callable[[], None] | str] = {}

    def register(self, name: str, obj: T | None = None, *, overwrite: bool = False):
        """Register ``obj`` under ``name``; usable as a decorator. Warns on overwrite."""

        def _add(o: T) -> T:
            if name in self._entries and self._entries[name] is not o and not overwrite:
                warnings.warn(
                    f"{self.kind} '{name}' is already registered; overwriting it",
                    stacklevel=3,
                )
            self._entries[name] = o
            self._lazy.pop(name, None)  # the real entry arrived before its lazy declaration was used
            return o

        if obj is not None:
            return _add(obj)
        return _add

    def register_lazy(self, name: str, loader: Callable[[], None] | str) -> None:
        """Declare ``name`` without importing it (keeps imports light, lets a low layer name a high one).

        ``loader`` is a callable that registers ``name``, a module path whose import registers it, or
        ``"module:attr"``, whose attribute becomes the entry.

        >>> r = Registry("toy")
        >>> r.register_lazy("sqrt", "math:sqrt")
        >>> "sqrt" in r, r.loaded("sqrt"), r.get("sqrt")(9.0), r.loaded("sqrt")
        (True, False, 3.0, True)
        """
        self._lazy[name] = loader

    def loaded(self, name: str) -> bool:
        """True when ``name`` has a registered entry (not just a lazy declaration)."""
        return self.split(name)[0] in self._entries

    def _load(self, name: str) -> None:
        if name in self._entries or name not in self._lazy:
            return
        loader = self._lazy.pop(name)
        if callable(loader):
            loader()
            return
        module, _, attr = loader.partition(":")
        mod = importlib.import_module(module)
        if attr and name not in self._entries:
            self._entries[name] = getattr(mod, attr)

    def split(self, name: str) -> tuple[str, str | None]:
        key, _, spec = str(name).partition(":")
        return key, (spec or None)

    def get(self, name: str) -> T:
        key, _ = self.split(name)
        self._load(key)
        if key not in self._entries:
            names = self.names()
            raise ConfigError(
                f"{self.kind} '{name}'",
                expected=f"one of {', '.join(names)}",
                found=f"'{name}'{did_you_mean(key, names)}",
                fix=f"use a registered {self.kind} name (see `medalist list {self.kind}s`)",
            )
        return self._entries[key]

    def __contains__(self, name: str) -> bool:
        key, _ = self.split(name)
        return key in self._entries or key in self._lazy

    def names(self) -> list[str]:
        return sorted(set(self._entries) | set(self._lazy))

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def items(self) -> Iterator[tuple[str, Any]]:
        for n in self.names():
            yield n, self.get(n)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
