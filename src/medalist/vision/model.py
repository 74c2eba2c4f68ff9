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
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import DataError, did_you_mean
from medalist.core.optional import require
from medalist.models.base import MODELS, FitContext, ModelAdapter, predict_in_chunks
from medalist.vision.config import VisionParams

__all__ = ["TimmImageModel", "soft_targets"]

log = logging.getLogger("medalist.vision")


def _require() -> None:
    for pkg in ("torch", "timm", "lightning", "albumentations"):
        require(pkg, extra="vision", purpose="model 'timm_image'")


def soft_targets(y: np.ndarray, task: str, n_classes: int | None) -> np.ndarray:
    """Targets as float rows: binary (n, 1), multiclass one-hot (n, K), multilabel (n, L), regression (n, D).

    >>> soft_targets(np.array([0, 2]), "multiclass", 3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    y = np.asarray(y)
    if task == "multiclass":
        return np.eye(int(n_classes), dtype=np.float32)[y.astype(np.int64)]  # type: ignore[arg-type]
    y = y.astype(np.float32)
    return y[:, None] if y.ndim == 1 else y


@contextlib.contextmanager
def _quiet_lightning(threads: int | None):
    import torch

    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # Lightning's advice about worker counts and logging is noise inside a CV loop.
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*(LightningModule.log|log_every_n_steps|GPU available|TPU|HPU).*")
            warnings.filterwarnings("ignore", category=UserWarning, module="lightning")
            warnings.filterwarnings("ignore", message=".*(LeafSpec|litlogger|limit_val_batches).*")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)
        torch.set_num_threads(old_threads)


class TimmImageModel(ModelAdapter):
    """Image classifier/regressor: timm backbone + our heads, trained with Lightning.

    ``best_iteration`` is the number of epochs trained, so a ``full_fit`` refits on all rows for the
    same number of epochs without validation.
    """

    name = "timm_image"

    def __init__(self, params: dict | None = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.p = VisionParams.parse(self.params)  # config errors surface before a run starts
        if importlib.util.find_spec("timm") is not None:
            from medalist.vision.net import check_backbone

            check_backbone(self.p.backbone)

    # -- helpers -----------------------------------------------------------------------------

    def _width(self) -> int:
        if self.task_ == "multiclass":
            return int(self.n_classes_)
        if self.task_ in ("multilabel", "regression"):
            return len(self.target_)
        return 1

    def _aux_values(self, frame: pl.DataFrame, what: str) -> np.ndarray | None:
        if not self.p.aux:
            return None
        cols = []
        for spec in self.p.aux:
            if spec.col not in frame.columns:
                raise DataError(f"{what}: aux column '{spec.col}'", expected="a column of the training rows",
                                found=f"no such column{did_you_mean(spec.col, frame.columns)}",
                                fix="list it under columns.keep in the experiment config (test may lack it)")
            cols.append(frame.get_column(spec.col).cast(pl.Float32, strict=False).fill_null(float("nan")).to_numpy())
        return np.stack(cols, axis=1).astype(np.float32)

    def _precision(self) -> str:
        import torch

        p = self.p
        if p.precision is not None:
            if "maxvit" in p.backbone and p.precision != "32" and "32" not in p.precision:
                log.warning("maxvit with %s: AMP is known to make its loss explode; precision: 32 is safer", p.precision)
            return p.precision
        if "maxvit" in p.backbone:
            return "32-true"
        on_gpu = torch.cuda.is_available() and p.accelerator in ("auto", "gpu", "cuda")
        return "bf16-mixed" if on_gpu and torch.cuda.is_bf16_supported() else "32-true"

    def _device(self) -> Any:
        import torch

        if torch.cuda.is_available() and self.p.accelerator in ("auto", "gpu", "cuda"):
            return torch.device("cuda")
        return torch.device("cpu")

    def _loader(self, dataset: Any, *, train: bool, sampler: Any = None, seed: int = 0) -> Any:
        import torch

        p = self.p
        kw: dict[str, Any] = {"batch_size": p.batch_size, "num_workers": p.workers,
                              "pin_memory": torch.cuda.is_available(), "persistent_workers": p.workers > 0}
        if train:
            kw["drop_last"] = len(sampler if sampler is not None else dataset) > p.batch_size
            if sampler is not None:
                kw["sampler"] = sampler
            else:
                kw["shuffle"] = True
                kw["generator"] = torch.Generator().manual_seed(seed)
        return torch.utils.data.DataLoader(dataset, **kw)

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, train: pl.DataFrame, valid: pl.DataFrame | None, ctx: FitContext) -> "TimmImageModel":
        """Train on ``train``, validating each epoch on ``valid`` (None: a full-data fit)."""
        _require()
        import lightning.pytorch as L
        import torch

        from medalist.vision.augment import (
            build_pipeline,
            random_probabilities,
            tta_coverage,
        )
        from medalist.vision.data import (
            BadImage,
            ImageDataset,
            ImageSource,
            NegativeDownsampler,
        )
        from medalist.vision.module import ImageModule
        from medalist.vision.net import build_net, n_outputs

        self._start_fit(train, ctx)
        p = self.p
        task = ctx.task
        self.loss_ = p.resolved_loss(task)
        size = p.size()
        source = ImageSource(p.images, p.in_chans)
        train_tf = build_pipeline(p.augment, size)
        valid_tf = build_pipeline(p.valid_augment, size, where="model.params.valid_augment")
        refs = source.refs(train, "training rows")
        y = soft_targets(ctx.y(train), task, self.n_classes_)
        aux = self._aux_values(train, "training rows")
        self.aux_out_ = []
        for j, spec in enumerate(p.aux):
            k = spec.n_classes or (int(np.nanmax(aux[:, j])) + 1 if spec.loss == "ce" else 1)  # type: ignore[index]
            self.aux_out_.append(int(k) if spec.loss == "ce" else 1)
        if p.pseudo_label is not None:
            from medalist.vision.pseudo import load_pseudo_labels

            rows, pt = load_pseudo_labels(p.pseudo_label, task, source.columns())
            if len(rows):
                refs = refs + source.refs(rows, f"pseudo-labelled test rows of run '{p.pseudo_label.run}'")
                y = np.concatenate([y, pt.reshape(len(pt), -1)])
                if aux is not None:
                    aux = np.concatenate([aux, np.full((len(pt), aux.shape[1]), np.nan, np.float32)])
            self.n_pseudo_ = len(rows)
            log.info("pseudo-labels: %d test rows from run %s", len(rows), p.pseudo_label.run)
        # Fail before training when even the first image is unusable (wrong channel count, bad bytes).
        try:
            first = source.read(refs[0])
        except BadImage as e:
            raise DataError(f"image {source.describe(refs[0])}", expected=f"a readable image with {p.in_chans} channel(s)",
                            found=str(e), fix="check the image files and model.params.in_chans") from None
        log.debug("first image %s", first.shape)

        sampler = None
        if p.sampler is not None and p.sampler.neg_pos_ratio is not None:
            if task != "binary":
                from medalist.core.errors import ConfigError

                raise ConfigError("model.params.sampler", expected="a binary task for negative downsampling",
                                  found=f"task '{task}'", fix="remove sampler")
            sampler = NegativeDownsampler(y[:, 0], p.sampler.neg_pos_ratio, seed=ctx.seed)
        train_ds = ImageDataset(source, refs, y, aux, train_tf, size)
        valid_ds = valid_y = None
        if valid is not None and valid.height:
            valid_refs = source.refs(valid, "validation rows")
            valid_ds = ImageDataset(source, valid_refs, soft_targets(ctx.y(valid), task, self.n_classes_),
                                    self._aux_values(valid, "validation rows"), valid_tf, size)
            valid_y = ctx.y(valid)

        epochs = p.epochs if valid is not None else (p.full_fit_epochs or ctx.num_iterations or p.epochs)
        L.seed_everything(ctx.seed, workers=True, verbose=False)
        net = build_net(p, n_outputs(task, self.loss_, self._width()), self.aux_out_)
        if p.channels_last:
            net = net.to(memory_format=torch.channels_last)

        def describe(stage: str, i: int) -> str:
            ds = train_ds if stage == "train" else valid_ds
            return source.describe(ds.refs[i])  # type: ignore[union-attr]

        module = ImageModule(net, p, task, self.loss_, p.aux, metric=ctx.metric, valid_y=valid_y, log_fn=ctx.log,
                             describe=describe, seed=ctx.seed)
        precision = self._precision()
        with _quiet_lightning(ctx.threads):
            trainer = self._trainer(p, epochs, precision, ctx, validate=valid_ds is not None)
            self.sample_grid_ = _sample_grid(train_ds, p.log_samples)
            trainer.fit(module, self._loader(train_ds, train=True, sampler=sampler, seed=ctx.seed),
                        self._loader(valid_ds, train=False) if valid_ds is not None else None)
        self.net_ = module.net.cpu().eval()
        self.precision_ = precision
        self.history_ = module.history
        self.best_iteration = epochs
        self.bad_images_ = {k: len(v) for k, v in module.bad.items()}
        self.worst_ = _worst(module.last_valid, valid, describe, p.log_samples)
        ps = random_probabilities(p.augment) if p.tta.n else []
        self.tta_coverage_ = tta_coverage(p.tta.n, ps) if p.tta.n else None
        if self.tta_coverage_ is not None:
            log.info("random TTA: n=%d passes over k=%d random transforms cover all with p=%.3f", p.tta.n, len(ps), self.tta_coverage_)
        self.train_tf_, self.valid_tf_ = train_tf, valid_tf
        return self

    def _trainer(self, p: Any, epochs: int, precision: Any, ctx: FitContext, *, validate: bool, **extra: Any) -> Any:
        """The Lightning Trainer of a fit: EMA/SWA callbacks, precision, accumulation, clipping, devices."""
        import lightning.pytorch as L

        callbacks: list[Any] = []
        if p.ema is not None:
            from lightning.pytorch.callbacks import EMAWeightAveraging

            callbacks.append(EMAWeightAveraging(decay=p.ema.decay))
        if p.swa is not None:
            callbacks.append(_swa_callback(p.swa.epoch_start, epochs))
        return L.Trainer(
            max_epochs=epochs, accelerator=p.accelerator, devices=p.devices, strategy=p.strategy,
            num_nodes=p.num_nodes, precision=precision, accumulate_grad_batches=p.accumulate,
            gradient_clip_val=p.grad_clip, callbacks=callbacks, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
            limit_val_batches=None if validate else 0,
            default_root_dir=str(ctx.workdir) if ctx.workdir else None, **extra,
        )

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
        _require()
        import torch

        from medalist.vision.augment import build_pipeline
        from medalist.vision.data import ImageDataset, ImageSource
        from medalist.vision.tta import predict_loader, tta_views

        p = self.p
        size = p.size()
        source = ImageSource(p.images, p.in_chans)
        refs = source.refs(chunk, "frame to predict")
        if not hasattr(self, "valid_tf_"):
            self.train_tf_ = build_pipeline(p.augment, size)
            self.valid_tf_ = build_pipeline(p.valid_augment, size, where="model.params.valid_augment")
        device = self._device()
        net = self.net_.to(device)
        if p.channels_last:
            net = net.to(memory_format=torch.channels_last)
        bad: list[int] = []
        kw = dict(task=self.task_, loss=self.loss_, device=device, precision=getattr(self, "precision_", "32-true"),
                  channels_last=p.channels_last, on_bad=bad.extend)
        passes = []
        with _quiet_lightning(getattr(self, "threads_", None)):
            views = tta_views(p.tta.hflip, p.tta.vflip)
            ds = ImageDataset(source, refs, None, None, self.valid_tf_, size)
            passes.append((predict_loader(net, self._loader(ds, train=False), views=views, **kw), len(views)))
            for i in range(p.tta.n):
                torch.manual_seed(i)
                np.random.seed(i)
                ds = ImageDataset(source, refs, None, None, self.train_tf_, size)
                passes.append((predict_loader(net, self._loader(ds, train=False), views=[(False, False)], **kw), 1))
        self.net_ = net.cpu()
        if bad:
            examples = ", ".join(source.describe(refs[i]) for i in sorted(set(bad))[:3])
            n_bad = len(set(bad))
            log.warning("%d of %d images unreadable at prediction (blank image used), e.g. %s", n_bad, len(refs), examples)
            if n_bad / len(refs) > p.max_bad_fraction:
                raise DataError("images to predict", expected=f"at most {p.max_bad_fraction:.1%} unreadable",
                                found=f"{n_bad} of {len(refs)} unreadable, e.g. {examples}",
                                fix="re-export the broken files, or raise model.params.max_bad_fraction")
        total = sum(w for _, w in passes)
        return sum(pred * w for pred, w in passes) / total

    # -- persistence -------------------------------------------------------------------------

    def _save_native(self, path: Path) -> None:
        import torch

        torch.save(self.net_.state_dict(), path / "weights.pt")
        grid = getattr(self, "sample_grid_", None)
        if grid is not None:
            from PIL import Image

            Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid[..., :3]).save(path / "augmented_samples.png")
        worst = getattr(self, "worst_", None)
        if worst is not None and worst.height:
            worst.write_csv(path / "worst_predictions.csv")
        if getattr(self, "history_", None):
            pl.DataFrame(self.history_).write_csv(path / "history.csv")

    def _extra_meta(self) -> dict[str, Any]:
        return {"loss": self.loss_, "aux_out": self.aux_out_, "precision": getattr(self, "precision_", "32-true"),
                "epochs_trained": self.best_iteration, "bad_images": getattr(self, "bad_images_", {}),
                "tta_coverage": getattr(self, "tta_coverage_", None), "n_pseudo": getattr(self, "n_pseudo_", 0)}

    def _load_native(self, path: Path, meta: dict[str, Any]) -> None:
        _require()
        import torch

        from medalist.vision.net import build_net, n_outputs

        self.loss_ = meta["loss"]
        self.aux_out_ = list(meta.get("aux_out") or [])
        self.precision_ = meta.get("precision", "32-true")
        # The architecture only: weights come from the saved file, never from a hub or a local checkpoint.
        arch = self.p.model_copy(update={"pretrained": False})
        net = build_net(arch, n_outputs(self.task_, self.loss_, self._width()), self.aux_out_)
        net.load_state_dict(torch.load(path / "weights.pt", map_location="cpu", weights_only=True))
        self.net_ = net.eval()


def _swa_callback(epoch_start: float, epochs: int) -> Any:
    from lightning.pytorch.callbacks import WeightAveraging

    start = int(epoch_start * epochs) if epoch_start < 1 else int(epoch_start)

    class EpochSWA(WeightAveraging):
        """Equal-weight average of the end-of-epoch weights from epoch ``start`` on."""

        def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
            return epoch_idx is not None and epoch_idx >= start

    return EpochSWA()


def _sample_grid(ds: Any, n: int) -> np.ndarray | None:
    """A tile of the first ``n`` augmented training inputs (finds augmentation bugs)."""
    if n <= 0 or len(ds) == 0:
        return None
    imgs = [ds[i]["image"].numpy().transpose(1, 2, 0) for i in range(min(n, len(ds)))]
    h, w, c = imgs[0].shape
    cols = int(np.ceil(np.sqrt(len(imgs))))
    rows = int(np.ceil(len(imgs) / cols))
    grid = np.zeros((rows * h, cols * w, c), dtype=np.uint8)
    for k, im in enumerate(imgs):
        r, q = divmod(k, cols)
        grid[r * h:(r + 1) * h, q * w:(q + 1) * w] = np.clip(im, 0, 255).astype(np.uint8)
    return grid


def _worst(last: dict[str, np.ndarray], valid: pl.DataFrame | None, describe: Any, n: int) -> pl.DataFrame | None:
    """The ``n`` validation rows with the largest loss in the last epoch."""
    if not last or valid is None or n <= 0:
        return None
    order = np.argsort(-last["loss"])[:n]
    pred = last["pred"]
    return pl.DataFrame({
        "row": last["index"][order].astype(np.int64),
        "image": [describe("valid", int(i)) for i in last["index"][order]],
        "loss": last["loss"][order].astype(np.float64),
        "pred": [str(np.round(pred[i], 4).tolist()) for i in order],
    })


MODELS.register("timm_image")(TimmImageModel)
