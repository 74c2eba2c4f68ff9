"""Model adapters behind one protocol; families are imported only when first used."""

from __future__ import annotations

import importlib

from medalist.models.base import ModelAdapter, ModelNotFittedError
from medalist.models.protocol import FitContext, Model
from medalist.models.registry import (
    MODELS,
    create_model,
    get_model,
    list_models,
    register_model,
)

__all__ = [
    "MODELS", "FitContext", "Model", "ModelAdapter", "ModelNotFittedError", "create_model", "get_model",
    "list_models", "load_model", "register_model",
]


def _lazy(module: str):
    return lambda: importlib.import_module(module)


for _name in ("lightgbm", "xgboost", "catboost"):
    MODELS.register_lazy(_name, _lazy("medalist.models.gbdt"))
MODELS.register_lazy("sklearn", _lazy("medalist.models.sklearn"))
MODELS.register_lazy("timm_image", _lazy("medalist.vision.model"))  # needs the vision extra
MODELS.register_lazy("segmentation", _lazy("medalist.vision.segmentation"))  # needs the vision extra (smp)
MODELS.register_lazy("detection", _lazy("medalist.vision.detection_model"))  # needs the vision extra (torchvision)
MODELS.register_lazy("signal", _lazy("medalist.signal.model"))  # needs the signal extra


def load_model(path) -> Model:
    """Load a saved model directory (it names its adapter in model.json)."""
    import json
    from pathlib import Path

    meta = json.loads((Path(path) / "model.json").read_text())
    return MODELS.get(meta["model"]).load(Path(path))
