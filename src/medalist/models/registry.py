"""The model registry: families by name (``model: lightgbm`` in YAML), built fresh and validated.

Families register with :func:`register_model` (or lazily, by module path, in :mod:`medalist.models`),
so naming one costs no import until it is used.
"""

from __future__ import annotations

from typing import Any

from medalist.core.registry import Registry
from medalist.models.protocol import Model

__all__ = ["MODELS", "create_model", "get_model", "list_models", "register_model"]

MODELS: Registry = Registry("model")
"""The model registry: name -> factory of a fresh `Model` (``register_model`` adds to it, ``list_models`` lists it)."""


def create_model(name: str, params: dict | None = None, **options: Any) -> Model:
    """Build a fresh, unfitted model by registered name, and check its parameters now.

    Constructors only store parameters (scikit-learn's contract, so ``clone`` works); this factory
    validates them at once because the runner creates a model before it writes a run folder.

    >>> m = create_model("lightgbm", {"learning_rate": 0.1})
    >>> type(m).__name__
    'LightGBMModel'
    """
    factory = MODELS.get(name)
    _, spec = MODELS.split(name)
    if spec is not None:
        options["spec"] = spec
    model = factory(params=dict(params or {}), **options)
    validate = getattr(model, "_validate", None)
    if validate is not None:
        validate()
    return model


def register_model(name: str, *, overwrite: bool = False):
    """Class decorator: register a :class:`Model` class (usually a :class:`ModelAdapter`) as ``name``."""
    return MODELS.register(name, overwrite=overwrite)


def get_model(name: str) -> type:
    """The model class registered as ``name`` (ConfigError with a did-you-mean if unknown)."""
    return MODELS.get(name)


def list_models() -> list[str]:
    """Names of the registered model families, lazy ones included.

    >>> "lightgbm" in list_models()
    True
    """
    return MODELS.names()
