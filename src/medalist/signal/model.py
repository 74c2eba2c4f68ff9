"""``model: signal``: multi-branch networks over 1-D or multi-channel waveforms, trained with the image
trainer's Lightning setup behind the Model protocol.

The runner fits one per fold like any model; waveforms come from list columns (Parquet), a .npy
array or an HDF5 dataset named in ``params.signals`` (list the columns under ``columns.keep``).

Example experiment (HMS-style)::

    model:
      name: signal
      params:
        signals: {columns: [eeg_fp1, eeg_f3]}
        sample_rate: 200
        length: 10000
        pad: zero
        branches:
          - {name: wave, input: raw}                              # 1-D CNN
          - {name: cwt, input: cwt, backbone: resnet18, img_size: [64, 256], resizer: {filters: 16}}
          - {name: mfcc, input: mfcc, net: gru}
        votes: [seizure_vote, lpd_vote, gpd_vote, lrda_vote, grda_vote, other_vote]
        curriculum: [{epochs: 10, filter: all}, {epochs: 10, filter: "votes >= 8"}]
        spec_augment: {alpha: 0.1}
        mix: {mixup_alpha: 0.4}
    columns: {keep: [eeg_fp1, eeg_f3, seizure_vote, lpd_vote, gpd_vote, lrda_vote, grda_vote, other_vote]}

>>> from medalist.models import create_model
>>> create_model("signal", {"signals": {"columns": ["x"]}, "sample_rate": 100,
...                         "branches": [{"name": "w", "input": "raw"}]}).registered_name
'signal'
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import ConfigError, DataError, MissingDependencyError
from medalist.models.base import ModelAdapter
from medalist.models.protocol import FitContext, predict_in_chunks
from medalist.models.registry import MODELS
from medalist.signal.config import SignalParams, parse_filter
from medalist.vision.model import TimmImageModel, _quiet_lightning, inner_selection_split, soft_targets

__all__ = ["SignalModel"]

log = logging.getLogger("medalist.signal")


def _require(p: SignalParams, *, training: bool = True) -> None:
    """The libraries the model needs: lightning only to train (a code-competition package predicts without it)."""
    pkgs = ["torch", "lightning"] if training else ["torch"]
    inputs = {b.input for b in p.branches}
    if any(b.resolved_net() == "timm" for b in p.branches):
        pkgs.append("timm")
    if inputs & {"mel", "mfcc"}:
        pkgs.append("librosa")
    if "cwt" in inputs:
        pkgs.append("pywt")
    for pkg in pkgs:
        if importlib.util.find_spec(pkg) is None:
            raise MissingDependencyError("PyWavelets" if pkg == "pywt" else pkg, extra="signal", purpose="model 'signal'")


def _check_votes(p: SignalParams, ctx: FitContext) -> None:
    """``votes`` belongs to a multiclass task; a distribution's target columns already are the votes."""
    if ctx.task == "distribution":
        if p.votes and list(p.votes) != list(ctx.target):
            raise ConfigError("model.params.votes", expected=f"the target columns {ctx.target} (task distribution: "
                              "the targets are the votes)", found=str(list(p.votes)), fix="remove params.votes")
        return
    if p.votes and ctx.task != "multiclass":
        raise ConfigError("model.params.votes", expected="a multiclass or distribution task", found=f"task '{ctx.task}'",
                          fix="remove votes, or make the target the class label")
    if p.min_votes is not None and not p.votes:
        raise ConfigError("model.params.min_votes", expected="min_votes needs votes: the per-class vote-count columns "
                          "(or task distribution, whose targets are the votes)", found="no params.votes",
                          fix="add params.votes or remove min_votes")


class SignalModel(TimmImageModel):
    """Multi-branch signal classifier/regressor; ``best_iteration`` is the selected epoch (``select``)."""

    name = "signal"

    params_class = SignalParams

    def _validate(self) -> None:
        """The base checks, then the signal params (``self.p``) and each timm branch's backbone."""
        ModelAdapter._validate(self)  # not the image params: a signal model has its own
        p = self.p  # parsing raises ConfigError; create_model calls this, so before a run starts
        if importlib.util.find_spec("timm") is not None:
            from medalist.vision.net import check_backbone

            for b in p.branches:
                if b.resolved_net() == "timm":
                    check_backbone(b.backbone)

    # -- data --------------------------------------------------------------------------------

    def _waveforms(self, frame: pl.DataFrame, what: str, length: int | None) -> np.ndarray:
        from medalist.signal.data import fix_length, read_signals

        p = self.p
        x = fix_length(read_signals(p.signals, frame, what), length, p.pad, p.crop, what)
        if hasattr(self, "chans_") and x.shape[1] != self.chans_:
            raise DataError(what, expected=f"{self.chans_} channel(s) per signal, as in training", found=f"{x.shape[1]}",
                            fix="read the same signal columns/array for prediction")
        if p.scale == "sample":
            x = (x - x.mean(-1, keepdims=True)) / (x.std(-1, keepdims=True) + 1e-6)
        elif p.scale == "global" and hasattr(self, "mean_"):
            x = (x - np.asarray(self.mean_, np.float32)[:, None]) / np.asarray(self.std_, np.float32)[:, None]
        return x.astype(np.float32)

    def _provided(self, frame: pl.DataFrame, what: str) -> dict[str, np.ndarray]:
        from medalist.signal.data import read_array

        out = {}
        for b in self.p.branches:
            if b.input == "provided":
                arr = read_array(b.source, frame, f"{what}, branch '{b.name}'")  # type: ignore[arg-type]
                if arr.ndim == 3:
                    arr = arr[:, None]
                if arr.ndim != 4 or not np.isfinite(arr).all():
                    raise DataError(f"{what}, branch '{b.name}'", expected="finite spectrograms (n, F, T) or (n, C, F, T)",
                                    found=f"shape {arr.shape}" if arr.ndim != 4 else "NaN/inf values",
                                    fix="fill the gaps in the provided spectrograms")
                out[b.name] = arr
        return out

    def _targets(self, frame: pl.DataFrame, ctx_or_task: Any, what: str) -> tuple[np.ndarray, np.ndarray | None]:
        from medalist.signal.data import vote_targets

        if self.p.votes or self.task_ == "distribution":  # a distribution's targets are the votes
            return vote_targets(frame, self.p.votes or self.target_, int(self.n_classes_), what)
        y = frame.get_column(self.target_[0]).to_numpy() if self.task_ != "multilabel" else frame.select(self.target_).to_numpy()
        return soft_targets(y, self.task_, self.n_classes_), None

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, train: pl.DataFrame, valid: pl.DataFrame | None, ctx: FitContext) -> "SignalModel":
        """Train on ``train`` through the curriculum stages, validating each epoch on ``valid``."""
        self._validate()  # a clone has only stored its params; self.p is parsed here
        p = self.p
        _require(p)
        import lightning.pytorch as L

        from medalist.signal.data import SignalDataset, filter_mask
        from medalist.signal.module import SignalModule
        from medalist.signal.net import build_signal_net
        from medalist.vision.loaders import sample_weights
        from medalist.vision.net import n_outputs

        self._start_fit(train, ctx)
        train, valid, n_scored = inner_selection_split(p, train, valid, ctx.seed)
        self._say_unused_features(ctx)
        for k in ("mean_", "std_", "chans_"):
            self.__dict__.pop(k, None)
        _check_votes(p, ctx)
        if p.external is not None:
            from medalist.vision.external import with_external

            need = (p.signals.columns or [p.signals.key]) + [b.source.key for b in p.branches if b.source is not None]  # type: ignore[misc]
            need += list(p.votes or [])  # soft-label targets: an external row needs its votes too
            train, self.n_external_ = with_external(p.external, train, ctx, [c for c in need if c])
        self.loss_ = p.loss or ("kl" if p.votes or ctx.task == "distribution" else p.resolved_loss(ctx.task))
        x = self._waveforms(train, "training rows", p.length)
        self.length_, self.chans_ = int(x.shape[-1]), int(x.shape[1])
        if p.scale == "global":
            self.mean_ = x.mean(axis=(0, 2)).tolist()
            self.std_ = (x.std(axis=(0, 2)) + 1e-6).tolist()
            x = (x - np.asarray(self.mean_, np.float32)[:, None]) / np.asarray(self.std_, np.float32)[:, None]
        y, votes = self._targets(train, ctx, "training rows")
        base = np.ones(len(x), dtype=bool)
        if p.min_votes is not None and votes is not None:
            base = votes >= p.min_votes
            log.info("min_votes %d keeps %d of %d training rows", p.min_votes, int(base.sum()), len(base))
        stages_cfg = p.curriculum or [type("S", (), {"epochs": p.epochs, "filter": "all"})()]
        stages = []
        for i, st in enumerate(stages_cfg):
            where = f"model.params.curriculum[{i}].filter" if p.curriculum else "training rows"
            mask = base & filter_mask(train, parse_filter(st.filter, where), votes, where)
            if not mask.any():
                raise DataError(where, expected="at least one training row", found=f"none pass '{st.filter}'" +
                                (f" with min_votes {p.min_votes}" if p.min_votes else ""), fix="loosen the filter")
            stages.append((int(st.epochs), np.flatnonzero(mask), st.filter))
        self.stage_rows_ = [len(s[1]) for s in stages]
        provided = self._provided(train, "training rows")
        train_ds = SignalDataset(x, y, provided, weights=sample_weights(ctx, train, "training rows"))
        valid_ds = valid_y = None
        if valid is not None and valid.height:
            vy, _ = self._targets(valid, ctx, "validation rows")
            valid_ds = SignalDataset(self._waveforms(valid, "validation rows", p.length or self.length_), vy,
                                     self._provided(valid, "validation rows"),
                                     weights=sample_weights(ctx, valid, "validation rows"))
            valid_y = ctx.y(valid)
        epochs = p.total_epochs()
        if valid is None and not p.curriculum:
            epochs = p.full_fit_epochs or ctx.num_iterations or p.epochs
            stages = [(epochs, stages[0][1], "all")]
        L.seed_everything(ctx.seed, workers=True, verbose=False)
        self.provided_shapes_ = {k: list(v.shape[1:]) for k, v in provided.items()}
        net = build_signal_net(p, self.chans_, self.length_, n_outputs(ctx.task, self.loss_, self._width()),
                               {k: tuple(v) for k, v in self.provided_shapes_.items()})
        module = SignalModule(net, p, ctx.task, self.loss_, stages=stages, train_ds=train_ds, valid_ds=valid_ds,
                              loader=self._loader, metric=ctx.metric, valid_y=valid_y, log_fn=ctx.log, seed=ctx.seed,
                              n_scored=n_scored)
        precision = self._precision()
        with _quiet_lightning(ctx.threads):
            trainer = self._trainer(p, epochs, precision, ctx, validate=valid_ds is not None,
                                    reload_dataloaders_every_n_epochs=1 if len(stages) > 1 else 0)
            trainer.fit(module)
        self._apply_selection(module, epochs)
        self.precision_ = precision
        self.history_ = module.history
        return self

    # -- predicting --------------------------------------------------------------------------

    def _precision(self) -> str:
        return self.p.precision or super()._precision()

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """Probabilities (or values) per row from the final head, chunk by chunk."""
        self._check_fitted()
        from medalist.signal.data import source_columns

        cols = source_columns(self.p.signals)
        for b in self.p.branches:
            if b.source is not None:
                cols += source_columns(b.source)
        missing = [c for c in dict.fromkeys(cols) if c not in frame.columns]
        if missing:
            raise DataError(f"frame to predict with model '{self.registered_name}'", expected="the signal columns",
                            found=f"missing {', '.join(missing)}", fix="list them under columns.keep")
        if frame.height == 0:
            return np.empty(self._output_shape(0), dtype=np.float64)
        out = predict_in_chunks(frame.select(list(dict.fromkeys(cols))), self._predict_chunk, getattr(self, "chunk_rows_", None))
        return out.reshape(self._output_shape(frame.height))

    def _predict_chunk(self, chunk: pl.DataFrame) -> np.ndarray:
        _require(self.p, training=False)
        import torch

        from medalist.vision.net import logits_to_pred

        x = self._waveforms(chunk, "rows to predict", self.p.length or self.length_)
        provided = self._provided(chunk, "rows to predict")
        device = self._device()
        net = self.net_.to(device).eval()
        bs = self.p.batch_size * 2
        parts = []
        with _quiet_lightning(getattr(self, "threads_", None)), torch.no_grad():
            for s in range(0, len(x), bs):
                xb = torch.from_numpy(x[s:s + bs]).to(device)
                pb = {k: torch.from_numpy(v[s:s + bs]).to(device) for k, v in provided.items()}
                logits, _ = net(xb, provided=pb)
                parts.append(logits_to_pred(logits, self.task_, self.loss_).cpu().numpy())
        self.net_ = net.cpu()
        return np.concatenate(parts).astype(np.float64)

    # -- persistence -------------------------------------------------------------------------

    def _save_native(self, path: Path) -> None:
        import torch

        torch.save(self.net_.state_dict(), path / "weights.pt")
        if getattr(self, "history_", None):
            pl.DataFrame(self.history_).write_csv(path / "history.csv")

    def _extra_meta(self) -> dict[str, Any]:
        return {"loss": self.loss_, "precision": getattr(self, "precision_", "32-true"), "epochs_trained": self.best_iteration,
                "training": self._training_meta(), "selection": getattr(self, "selection_", None),
                "step_warnings": getattr(self, "step_warnings_", []),
                "length": self.length_, "chans": self.chans_, "mean": getattr(self, "mean_", None),
                "std": getattr(self, "std_", None), "provided_shapes": getattr(self, "provided_shapes_", {}),
                "stage_rows": getattr(self, "stage_rows_", None), "unused_features": getattr(self, "unused_features_", []),
                "n_external": getattr(self, "n_external_", 0)}

    def _load_native(self, path: Path, meta: dict[str, Any]) -> None:
        _require(self.p, training=False)
        import torch

        from medalist.signal.net import build_signal_net
        from medalist.vision.net import n_outputs

        self.loss_ = meta["loss"]
        self.precision_ = meta.get("precision", "32-true")
        self.length_, self.chans_ = int(meta["length"]), int(meta["chans"])
        if meta.get("mean") is not None:
            self.mean_, self.std_ = meta["mean"], meta["std"]
        self.provided_shapes_ = meta.get("provided_shapes") or {}
        # The architecture only: weights come from the saved file, never from a hub or a local checkpoint.
        arch = self.p.model_copy(update={"branches": [b.model_copy(update={"pretrained": False}) for b in self.p.branches]})
        net = build_signal_net(arch, self.chans_, self.length_, n_outputs(self.task_, self.loss_, self._width()),
                               {k: tuple(v) for k, v in self.provided_shapes_.items()})
        net.load_state_dict(torch.load(path / "weights.pt", map_location="cpu", weights_only=True))
        self.net_ = net.eval()


MODELS.register("signal")(SignalModel)
