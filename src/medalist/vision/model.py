"""``model: timm_image``: a timm backbone trained with PyTorch Lightning behind the Model protocol.

An image model is one more registered model: the runner fits one per fold on the shared folds, and
its OOF/test predictions land in the run store beside GBDT runs (so blends, stacks and
``oof_feature`` use them). Parameters are :class:`~medalist.vision.config.VisionParams`; images
come from the columns named in ``params.images`` (list them under ``columns.keep``).

Example experiment::

    model:
      name: timm_image
      params:
        backbone: convnext_tiny
        pretrained: weights/convnext_tiny.safetensors
        img_size: 384
        images: {pattern: "{isic_id}.jpg", dirs: [data/train-image, data/test-image]}
        aux: [{col: has_lesion_id, loss: bce, weight: 0.1}]
        augment: [{name: HorizontalFlip, p: 0.5}, {name: VerticalFlip, p: 0.5}]
        sampler: {neg_pos_ratio: 20}
        tta: {hflip: true}
    columns: {keep: [has_lesion_id]}

>>> from medalist.models import create_model
>>> create_model("timm_image", {"backbone": "resnet10t"}).registered_name
'timm_image'
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl

from medalist.models.base import ModelAdapter
from medalist.models.protocol import FitContext, predict_in_chunks
from medalist.models.registry import MODELS
from medalist.vision.config import VisionParams
from medalist.vision.loaders import aux_classes, aux_values, make_loader, soft_targets
from medalist.vision.trainer import (
    build_trainer,
    device_for,
    quiet_lightning,
    require,
    resolve_precision,
)

__all__ = ["TimmImageModel", "soft_targets"]

_quiet_lightning = quiet_lightning  # the name signal/model.py and benchmarks/vision_throughput.py import from here

log = logging.getLogger("medalist.vision")


class TimmImageModel(ModelAdapter):
    """Image classifier/regressor: timm backbone + our heads, trained with Lightning.

    ``best_iteration`` is the number of epochs trained, so a ``full_fit`` refits on all rows for the
    same number of epochs without validation. Inputs are built in :mod:`~medalist.vision.loaders`,
    the Trainer in :mod:`~medalist.vision.trainer`, predictions in :mod:`~medalist.vision.inference`
    and the saved sample grid / worst rows in :mod:`~medalist.vision.diagnostics`.
    """

    name = "timm_image"

    params_class: ClassVar[type] = VisionParams  # what ``params`` parse into (SignalModel: SignalParams)

    @property
    def p(self) -> Any:
        """The parsed params, parsed on first use (the constructor only stores them, as sklearn's do)."""
        cached = self.__dict__.get("_parsed")
        if cached is None or cached[0] is not self.params:
            cached = (self.params, self.params_class.parse(self.params or {}))
            self.__dict__["_parsed"] = cached
        return cached[1]

    def _validate(self) -> None:
        """The base checks, then the image params (``self.p``) and the backbone name."""
        super()._validate()
        p = self.p  # parsing raises ConfigError; create_model calls this, so before a run starts
        if importlib.util.find_spec("timm") is not None:
            from medalist.vision.net import check_backbone

            check_backbone(p.backbone)

    # -- helpers (signal/model.py reuses them) ----------------------------------------------

    def _width(self) -> int:
        if self.task_ in ("multiclass", "distribution"):
            return int(self.n_classes_)
        if self.task_ in ("multilabel", "regression"):
            return len(self.target_)
        return 1

    def _aux_values(self, frame: pl.DataFrame, what: str) -> np.ndarray | None:
        """Aux-head targets of ``frame``; string columns through the fitted class lists (or, before a
        fit, lists taken from ``frame``); an unknown value is NaN (masked)."""
        classes = getattr(self, "aux_classes_", None)
        if classes is None:
            classes = aux_classes(self.p, frame)
        return aux_values(self.p, frame, what, classes)

    def _precision(self) -> str:
        return resolve_precision(self.p)

    def _device(self) -> Any:
        return device_for(self.p)

    def _loader(self, dataset: Any, *, train: bool, sampler: Any = None, seed: int = 0) -> Any:
        return make_loader(self.p, dataset, train=train, sampler=sampler, seed=seed)

    def _trainer(self, p: Any, epochs: int, precision: Any, ctx: FitContext, *, validate: bool, **extra: Any) -> Any:
        """The Lightning Trainer of a fit: EMA/SWA callbacks, precision, accumulation, clipping, devices."""
        return build_trainer(p, epochs, precision, ctx, validate=validate, **extra)

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, train: pl.DataFrame, valid: pl.DataFrame | None, ctx: FitContext) -> "TimmImageModel":
        """Train on ``train``, validating each epoch on ``valid`` (None: a full-data fit)."""
        require()
        import lightning.pytorch as L
        import torch

        from medalist.vision.data import ImageSource
        from medalist.vision.diagnostics import sample_grid
        from medalist.vision.external import with_external
        from medalist.vision.loaders import build_fit_data
        from medalist.vision.module import ImageModule
        from medalist.vision.net import build_net, n_outputs

        self._start_fit(train, ctx)
        p = self.p
        self.loss_ = p.resolved_loss(ctx.task)
        train, self.n_external_ = with_external(p.external, train, ctx, ImageSource(p.images, p.in_chans).columns())
        data = build_fit_data(p, train, valid, ctx, self.n_classes_)
        self.aux_out_ = data.aux_out
        self.aux_classes_ = data.aux_classes or {}
        if data.n_pseudo is not None:
            self.n_pseudo_ = data.n_pseudo
        epochs = p.epochs if valid is not None else (p.full_fit_epochs or ctx.num_iterations or p.epochs)
        L.seed_everything(ctx.seed, workers=True, verbose=False)
        net = build_net(p, n_outputs(ctx.task, self.loss_, self._width()), self.aux_out_)
        if p.channels_last:
            net = net.to(memory_format=torch.channels_last)
        module = ImageModule(net, p, ctx.task, self.loss_, p.aux, metric=ctx.metric, valid_y=data.valid_y, log_fn=ctx.log,
                             describe=data.describe, seed=ctx.seed)
        precision = self._precision()
        with quiet_lightning(ctx.threads):
            trainer = self._trainer(p, epochs, precision, ctx, validate=data.valid_ds is not None)
            self.sample_grid_ = sample_grid(data.train_ds, p.log_samples)
            trainer.fit(module, self._loader(data.train_ds, train=True, sampler=data.sampler, seed=ctx.seed),
                        self._loader(data.valid_ds, train=False) if data.valid_ds is not None else None)
        self._record_fit(module, data, valid, epochs, precision)
        return self

    def _record_fit(self, module: Any, data: Any, valid: pl.DataFrame | None, epochs: int, precision: str) -> None:
        """Keep the trained net and what the fit learned about itself (history, bad images, worst rows)."""
        from medalist.vision.diagnostics import worst_predictions
        from medalist.vision.inference import tta_coverage_of

        self.net_ = module.net.cpu().eval()
        self.precision_ = precision
        self.history_ = module.history
        self.best_iteration = epochs
        self.bad_images_ = {k: len(v) for k, v in module.bad.items()}
        self.worst_ = worst_predictions(module.last_valid, valid, data.describe, self.p.log_samples)
        self.tta_coverage_ = tta_coverage_of(self.p)
        self.train_tf_, self.valid_tf_ = data.train_tf, data.valid_tf

    # -- predicting --------------------------------------------------------------------------

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """Probabilities (or values) per row, averaged over the configured TTA views, chunk by chunk."""
        self._check_fitted()
        from medalist.vision.data import ImageSource

        source = ImageSource(self.p.images, self.p.in_chans)
        source.check_columns(frame, f"frame to predict with model '{self.registered_name}'")
        if frame.height == 0:
            return np.empty(self._output_shape(0), dtype=np.float64)
        rows = getattr(self, "chunk_rows_", None)
        out = predict_in_chunks(frame.select(source.columns()), self._predict_chunk, rows)
        return out.reshape(self._output_shape(frame.height))

    def _predict_chunk(self, chunk: pl.DataFrame) -> np.ndarray:
        from medalist.vision.inference import predict_chunk

        return predict_chunk(self, chunk)

    # -- persistence -------------------------------------------------------------------------

    def _save_native(self, path: Path) -> None:
        import torch

        from medalist.vision.diagnostics import save_diagnostics

        from safetensors.torch import save_file

        # safetensors: tensors and a JSON header, nothing that runs on load (a .pt file is a pickle)
        state = {k: v.detach().contiguous() for k, v in self.net_.state_dict().items()}
        save_file(state, str(path / "weights.safetensors"))
        save_diagnostics(self, path)

    def _extra_meta(self) -> dict[str, Any]:
        return {"loss": self.loss_, "aux_out": self.aux_out_, "aux_classes": getattr(self, "aux_classes_", {}),
                "precision": getattr(self, "precision_", "32-true"),
                "epochs_trained": self.best_iteration, "bad_images": getattr(self, "bad_images_", {}),
                "tta_coverage": getattr(self, "tta_coverage_", None), "n_pseudo": getattr(self, "n_pseudo_", 0),
                "n_external": getattr(self, "n_external_", 0)}

    def _load_native(self, path: Path, meta: dict[str, Any]) -> None:
        require()
        import torch

        from medalist.vision.net import build_net, n_outputs

        self.loss_ = meta["loss"]
        self.aux_out_ = list(meta.get("aux_out") or [])
        self.aux_classes_ = {str(k): [str(v) for v in vs] for k, vs in (meta.get("aux_classes") or {}).items()}
        self.precision_ = meta.get("precision", "32-true")
        # The architecture only: weights come from the saved file, never from a hub or a local checkpoint.
        arch = self.p.model_copy(update={"pretrained": False})
        net = build_net(arch, n_outputs(self.task_, self.loss_, self._width()), self.aux_out_)
        net.load_state_dict(load_weights(path))
        self.net_ = net.eval()


def load_weights(path: Path) -> dict[str, Any]:
    """A saved net's state dict: ``weights.safetensors``, or an older ``weights.pt`` read with
    ``torch.load(weights_only=True)`` (tensors only; a pickle naming any other callable is refused)."""
    import torch

    st = path / "weights.safetensors"
    if st.is_file():
        from safetensors.torch import load_file

        return load_file(str(st), device="cpu")
    try:
        return torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
    except FileNotFoundError:
        from medalist.core.errors import DataError

        raise DataError(str(path), expected="weights.safetensors (or weights.pt)", found="neither",
                        fix="re-train the run, or import it with `export --models`") from None
    except Exception as e:  # torch's UnpicklingError: the file names something beyond tensors
        if type(e).__name__ != "UnpicklingError":
            raise
        from medalist.core.errors import DataError

        raise DataError(str(path / "weights.pt"), expected="tensors only (weights_only=True)",
                        found=f"a pickle that needs more ({str(e).splitlines()[0][:200]})",
                        fix="do not load this file; re-train the model") from None


MODELS.register("timm_image")(TimmImageModel)
