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

import contextlib
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
from medalist.vision.ddp import load_handoff
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


@contextlib.contextmanager
def handoff_file(module: Any):
    """A private temporary file where a DDP fit's rank 0 leaves the module's state (:mod:`medalist.vision.ddp`)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="medalist-ddp-") as tmp:
        try:
            yield Path(tmp) / "rank0.pt"
        finally:
            module.handoff = None


def launches_ranks(strategy: Any) -> bool:
    """Whether the Trainer's strategy starts its own rank processes for this fit (ddp_fork/ddp_spawn)."""
    from medalist.vision.ddp import launches_ranks as by_name

    name = strategy if isinstance(strategy, str) else getattr(type(strategy), "strategy_name", "")
    launcher = getattr(strategy, "launcher", None)
    start = getattr(launcher, "_start_method", None)
    return by_name(name) or start in ("fork", "spawn", "forkserver")


class TimmImageModel(ModelAdapter):
    """Image classifier/regressor: timm backbone + our heads, trained with Lightning.

    ``best_iteration`` is the selected epoch (``select``: the last one, or the best-scoring one), so
    a ``full_fit`` refits on all rows for that many epochs without validation. Inputs are built in
    :mod:`~medalist.vision.loaders`, the Trainer in :mod:`~medalist.vision.trainer`, predictions in :mod:`~medalist.vision.inference`
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
        train, scored_valid, n_scored = inner_selection_split(p, train, valid, ctx.seed)
        train, self.n_external_ = with_external(p.external, train, ctx, ImageSource(p.images, p.in_chans).columns())
        data = build_fit_data(p, train, scored_valid, ctx, self.n_classes_)
        self.aux_out_ = data.aux_out
        self.aux_classes_ = data.aux_classes or {}
        self.tab_stats_ = data.tab_stats
        self._say_unused_features(ctx)
        if data.n_pseudo is not None:
            self.n_pseudo_ = data.n_pseudo
        epochs = p.epochs if valid is not None else (p.full_fit_epochs or ctx.num_iterations or p.epochs)
        L.seed_everything(ctx.seed, workers=True, verbose=False)
        net = build_net(p, n_outputs(ctx.task, self.loss_, self._width()), self.aux_out_)
        if p.channels_last:
            net = net.to(memory_format=torch.channels_last)
        module = ImageModule(net, p, ctx.task, self.loss_, p.aux, metric=ctx.metric, valid_y=data.valid_y, log_fn=ctx.log,
                             describe=data.describe, seed=ctx.seed, n_scored=n_scored)
        precision = self._precision()
        with quiet_lightning(ctx.threads), handoff_file(module) as handoff:
            trainer = self._trainer(p, epochs, precision, ctx, validate=data.valid_ds is not None)
            self.sample_grid_ = sample_grid(data.train_ds, p.log_samples)
            ranks = launches_ranks(trainer.strategy)
            module.handoff = handoff if ranks else None
            trainer.fit(module, self._loader(data.train_ds, train=True, sampler=data.sampler, seed=ctx.seed),
                        self._loader(data.valid_ds, train=False) if data.valid_ds is not None else None)
            if ranks and handoff.is_file():  # DDP ranks ended with the fit: rank 0's history and selection
                load_handoff(module, handoff)
        self._record_fit(module, data, valid, epochs, precision)
        return self

    def _say_unused_features(self, ctx: FitContext) -> None:
        """Feature columns the network does not read (only ``model.params.tabular`` ones reach the head):
        logged once per fit as a warning and kept in model.json (``unused_features``)."""
        tab = set(getattr(self.p, "tabular", None) or [])
        self.unused_features_ = [c for c in ctx.features if c not in tab]
        if self.unused_features_:
            names = ", ".join(self.unused_features_[:8]) + (" …" if len(self.unused_features_) > 8 else "")
            signal = self.registered_name == "signal"
            hint = ("a signal model takes no tabular columns: feed its OOF to a GBDT with them (oof_feature)" if signal
                    else "list them under model.params.tabular to feed them to the head")
            log.warning("model %s reads %s%s only: %d feature column(s) are NOT used by the network (%s); %s",
                        self.registered_name, "signals" if signal else "images",
                        f" and {len(tab)} tabular column(s)" if tab else "", len(self.unused_features_), names, hint)

    def _record_fit(self, module: Any, data: Any, valid: pl.DataFrame | None, epochs: int, precision: str) -> None:
        """Keep the trained net and what the fit learned about itself (history, bad images, worst rows)."""
        from medalist.vision.diagnostics import worst_predictions
        from medalist.vision.inference import tta_coverage_of

        self._apply_selection(module, epochs)
        self.precision_ = precision
        self.history_ = module.history
        self.bad_images_ = {k: len(v) for k, v in module.bad.items()}
        self.worst_ = worst_predictions(module.last_valid, valid, data.describe, self.p.log_samples)
        self.tta_coverage_ = tta_coverage_of(self.p)
        self.train_tf_, self.valid_tf_ = data.train_tf, data.valid_tf

    def _apply_selection(self, module: Any, epochs: int) -> None:
        """Keep the selected epoch's weights as ``net_`` and record the choice (``best_iteration``,
        ``selection_``, a ``selected_epoch`` curve point); signal/model.py calls it too."""
        sel = module.selector
        summary = sel.summary(epochs)
        if sel.mode == "best" and sel.best_state is not None:
            module.net.load_state_dict(sel.best_state)
        self.net_ = module.net.cpu().eval()
        self.best_iteration = int(summary["selected_epoch"])
        self.selection_ = summary
        self.step_warnings_ = list(module.step_warnings)
        if summary["epochs"]:
            module._emit("selected_epoch", self.best_iteration, epochs)
            extra = f", optimism of choosing on the scoring fold {summary['optimism']:+.4g}" if "optimism" in summary else ""
            log.info("select %s: epoch %d of %d (%s on %s rows)%s", sel.mode, self.best_iteration, epochs,
                     summary["criterion"], summary["on"], extra)

    def _training_meta(self) -> dict[str, Any]:
        """The training options this fit actually used (model.json), resolved from the params."""
        from medalist.vision.loaders import worker_count

        p, ema = self.p, self.p.resolved_ema()
        return {"epochs": p.epochs, "batch_size": p.batch_size, "lr": p.resolved_lr(), "head_lr": p.resolved_head_lr(),
                "weight_decay": p.weight_decay, "warmup": p.warmup, "accumulate": p.accumulate,
                "ema_decay": None if ema is None else ema.decay,
                "swa_epoch_start": None if p.swa is None else p.swa.epoch_start,
                "select": p.select, "select_split": p.select_split, "workers": worker_count(p.workers, quiet=True)}

    def _saved_options(self) -> dict[str, Any]:
        return {}  # no boosting options: model.json carries the training options under "training"

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
        out = predict_in_chunks(frame.select(list(dict.fromkeys([*source.columns(), *self.p.tabular]))), self._predict_chunk, rows)
        return out.reshape(self._output_shape(frame.height))

    @property
    def uses_tta(self) -> bool:
        """Whether predictions average test-time augmentation views (flips or random passes)."""
        t = getattr(self.p, "tta", None)
        return bool(t is not None and (t.hflip or t.vflip or t.n))

    def predict_without_tta(self, frame: pl.DataFrame) -> np.ndarray:
        """Predictions of the same weights with TTA off (the validation transform only): the runner
        scores the OOF both ways and warns when TTA made it worse."""
        from medalist.vision.config import TTAConfig

        saved = self.__dict__.get("_parsed")
        self.__dict__["_parsed"] = (self.params, self.p.model_copy(update={"tta": TTAConfig()}))
        try:
            return self.predict(frame)
        finally:
            if saved is None:
                self.__dict__.pop("_parsed", None)
            else:
                self.__dict__["_parsed"] = saved

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
                "training": self._training_meta(), "selection": getattr(self, "selection_", None),
                "step_warnings": getattr(self, "step_warnings_", []),
                "tta_coverage": getattr(self, "tta_coverage_", None), "n_pseudo": getattr(self, "n_pseudo_", 0),
                "tabular": ({"columns": list(self.p.tabular), "mean": self.tab_stats_[0], "std": self.tab_stats_[1]}
                            if getattr(self, "tab_stats_", None) else None),
                "unused_features": getattr(self, "unused_features_", []),
                "n_external": getattr(self, "n_external_", 0)}

    def _load_native(self, path: Path, meta: dict[str, Any]) -> None:
        require()
        import torch

        from medalist.vision.net import build_net, n_outputs

        self.loss_ = meta["loss"]
        self.aux_out_ = list(meta.get("aux_out") or [])
        self.aux_classes_ = {str(k): [str(v) for v in vs] for k, vs in (meta.get("aux_classes") or {}).items()}
        self.precision_ = meta.get("precision", "32-true")
        tab = meta.get("tabular")
        self.tab_stats_ = (list(tab["mean"]), list(tab["std"])) if tab else None
        # The architecture only: weights come from the saved file, never from a hub or a local checkpoint.
        arch = self.p.model_copy(update={"pretrained": False})
        net = build_net(arch, n_outputs(self.task_, self.loss_, self._width()), self.aux_out_)
        net.load_state_dict(load_weights(path))
        self.net_ = net.eval()


def inner_selection_split(p: Any, train: pl.DataFrame, valid: pl.DataFrame | None, seed: int
                          ) -> tuple[pl.DataFrame, pl.DataFrame | None, int | None]:
    """(training rows, validation rows, number of scored validation rows) of a fit.

    Under ``select: best`` with ``select_split: inner``, a seeded ``inner_fraction`` of the training
    rows leaves training and is appended after the scoring fold's rows: the epoch is chosen on them,
    the scoring fold only reports. Otherwise the frames are returned as they are (and None).
    """
    if valid is None or p.select != "best" or p.select_split != "inner":
        return train, valid, None
    n_inner = max(1, int(round(p.inner_fraction * train.height)))
    if n_inner >= train.height:
        from medalist.core.errors import ConfigError

        raise ConfigError("model.params.inner_fraction", expected="an inner slice smaller than the training rows",
                          found=f"{n_inner} of {train.height} rows", fix="lower inner_fraction or use select_split: fold")
    perm = np.random.default_rng(seed).permutation(train.height)
    inner, rest = np.sort(perm[:n_inner]), np.sort(perm[n_inner:])
    return train[rest], pl.concat([valid, train[inner].select(valid.columns)], how="vertical_relaxed"), valid.height


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
