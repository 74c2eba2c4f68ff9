"""Typed parameters of ``model: signal`` (the ``model.params`` block of an experiment YAML).

Optimisation, precision, EMA/SWA, mixup and Trainer settings are the image trainer's
(:class:`~medalist.vision.config.VisionParams`); the network is a list of ``branches``, each a
front-end plus a small network with its own head and loss (HMS P-SHA).

>>> p = SignalParams.parse({"signals": {"columns": ["x"]}, "sample_rate": 100,
...                         "branches": [{"name": "wave", "input": "raw"}]})
>>> (p.branches[0].resolved_net(), p.resolved_lr())
('cnn1d', 0.001)
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from medalist.core.config import Strict, validate
from medalist.core.errors import ConfigError, did_you_mean
from medalist.core.registry import Registry
from medalist.vision.config import VisionParams

__all__ = ["SignalParams", "SignalSource", "Branch", "Stage", "ResizerConfig", "SpecAugmentConfig", "parse_filter",
           "FRONTENDS", "FrontEnd", "register_frontend", "get_frontend", "list_frontends"]


@dataclass(frozen=True)
class FrontEnd:
    """A branch input by name: how to build its module and what the network behind it expects.

    ``build(branch, sample_rate)`` returns a torch module mapping the waveform batch (B, C, T) to an
    image (B, C, F, T') when ``image`` is true, else to a sequence (B, C, T') or (B, C, 1, T'); None
    means the branch gets the waveform itself (``raw``) or provided arrays (``provided``). ``build``
    may be a ``"module:function"`` string so that naming a front-end in a config imports no torch.
    ``log``: log1p is applied to the output (magnitudes; dB front-ends are already logarithmic).
    ``net``: the branch network when the config names none (timm, cnn1d or gru).
    """

    name: str
    build: Callable[[Any, float], Any] | str | None
    image: bool = True
    log: bool = False
    net: str = "timm"

    def make(self, branch: Any, sample_rate: float) -> Any:
        fn = self.build
        if isinstance(fn, str):
            module, _, attr = fn.partition(":")
            fn = getattr(importlib.import_module(module), attr)
        return None if fn is None else fn(branch, sample_rate)


# Torch-free, so a config naming a front-end validates without the signal extra installed.
FRONTENDS: Registry[FrontEnd] = Registry("signal front-end")


def register_frontend(name: str, *, image: bool = True, log: bool = False, net: str | None = None,
                      overwrite: bool = False):
    """Decorator: register ``build(branch, sample_rate) -> nn.Module`` as branch input ``name``."""

    def deco(build: Callable[[Any, float], Any]) -> Callable[[Any, float], Any]:
        FRONTENDS.register(name, FrontEnd(name, build, image=image, log=log, net=net or ("timm" if image else "cnn1d")),
                           overwrite=overwrite)
        return build

    return deco


def get_frontend(name: str) -> FrontEnd:
    """The front-end ``name`` (ConfigError with a did-you-mean if unknown)."""
    return FRONTENDS.get(name)


def list_frontends() -> list[str]:
    """Names usable as a branch's ``input``.

    >>> list_frontends()[:4]
    ['banana', 'cwt', 'lfcc', 'mel']
    """
    return FRONTENDS.names()


_BUILD = "medalist.signal.frontends:build_"
for _fe in (
    FrontEnd("raw", None, image=False, net="cnn1d"),
    FrontEnd("stft", _BUILD + "stft", log=True),
    FrontEnd("cwt", _BUILD + "cwt", log=True),
    FrontEnd("mel", _BUILD + "mel"),
    FrontEnd("mfcc", _BUILD + "mfcc"),
    FrontEnd("lfcc", _BUILD + "lfcc"),
    FrontEnd("rms", _BUILD + "rms", image=False, log=True, net="gru"),
    FrontEnd("provided", None),
    # EEG bipolar montage: 18 channel differences (B, 18, T) of the branch's named electrodes
    FrontEnd("banana", "medalist.signal.montage:build_banana", image=False, net="cnn1d"),
):
    FRONTENDS.register(_fe.name, _fe)


class SignalSource(Strict):
    """Where each row's waveform (or provided spectrogram) comes from.

    ``columns``: list-of-float columns of the table (Parquet), one per channel; ``npy``: a .npy array
    (n, T) or (n, C, T) (spectrograms (n, C, H, W)) indexed by the integer column ``key``; ``hdf5``:
    a dataset ``dataset`` of an HDF5 file, indexed the same way. Paths are relative to the workspace.
    """

    columns: list[str] | None = None
    npy: str | None = None
    hdf5: str | None = None
    dataset: str | None = None
    key: str | None = None

    @model_validator(mode="after")
    def _one(self) -> "SignalSource":
        given = [k for k in ("columns", "npy", "hdf5") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"exactly one of columns, npy, hdf5 (given: {', '.join(given) or 'none'})")
        if (self.npy or self.hdf5) and not self.key:
            raise ValueError("npy/hdf5 need 'key': the integer column holding each row's index into the array")
        if self.hdf5 and not self.dataset:
            raise ValueError("hdf5 needs 'dataset': the name of the array inside the file")
        return self


class ResizerConfig(Strict):
    """Learned resizer (Talebi & Milanfar 2021, arXiv 2103.09950) in front of a timm branch."""

    filters: int = Field(default=16, ge=1)
    blocks: int = Field(default=1, ge=0)


class Branch(Strict):
    """One branch: a front-end, a network (timm image / 1-D CNN / GRU), its own head and loss."""

    name: str
    input: str  # a registered front-end (list_frontends())
    net: Literal["timm", "cnn1d", "gru"] | None = None  # None: timm for images, cnn1d for raw, gru for rms
    # front-end
    n_fft: int = Field(default=256, ge=4)
    hop: int | None = Field(default=None, ge=1)
    n_mels: int = Field(default=64, ge=1)
    n_mfcc: int = Field(default=20, ge=1)
    n_filters: int = Field(default=64, ge=1)  # lfcc filter bank
    n_lfcc: int = Field(default=20, ge=1)
    fmin: float = Field(default=0.0, ge=0)
    fmax: float | None = None
    top_db: float | None = 80.0
    wavelet: str = "morl"
    scales: list[float] | None = None  # cwt; None: n_scales log-spaced from scale_min to scale_max
    n_scales: int = Field(default=32, ge=1)
    scale_min: float = Field(default=1.0, gt=0)
    scale_max: float = Field(default=64.0, gt=0)
    stride: int = Field(default=1, ge=1)  # cwt: keep every n-th time step
    source: SignalSource | None = None  # provided: where the spectrograms are
    electrodes: list[str] | None = None  # banana: the 10-20 name of each input channel, signals.columns order
    # network
    backbone: str = "resnet10t"
    pretrained: bool | str = False
    img_size: int | list[int] = 64
    pool: Literal["gem", "avg"] = "gem"
    drop: float = Field(default=0.0, ge=0, lt=1)
    resizer: ResizerConfig | None = None
    hidden: int = Field(default=64, ge=1)  # cnn1d channels / gru units
    layers: int = Field(default=3, ge=1)
    weight: float = Field(default=1.0, ge=0)  # this branch's share in mean(branch losses)

    @field_validator("input")
    @classmethod
    def _known_input(cls, v: str) -> str:
        if v not in FRONTENDS:
            names = FRONTENDS.names()
            raise ValueError(f"one of {', '.join(names)}{did_you_mean(v, names)}")
        return v

    def resolved_net(self) -> str:
        if self.net is not None:
            return self.net
        return FRONTENDS.get(self.input).net

    def size(self) -> tuple[int, int]:
        s = self.img_size
        return (s, s) if isinstance(s, int) else (int(s[0]), int(s[1]))


class Stage(Strict):
    """One curriculum stage: train ``epochs`` epochs on the rows passing ``filter``."""

    epochs: int = Field(ge=1)
    filter: str = "all"


class SpecAugmentConfig(Strict):
    """Zero random bands of frequency rows and time columns of each training spectrogram."""

    alpha: float = Field(default=0.1, gt=0, le=1)  # band width at most alpha × the size
    n_masks: int = Field(default=1, ge=1)
    p: float = Field(default=0.5, ge=0, le=1)


_IMAGE_ONLY = ("images", "augment", "valid_augment", "sampler", "tta", "pseudo_label", "backbone", "in_chans",
               "img_size", "pool", "drop_path", "pretrained", "tabular", "freeze", "freeze_bn", "lr_decay", "resizer")

_FILTER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*(-?[0-9.eE+-]+)\s*$")


def parse_filter(text: str, where: str) -> tuple[str, str, float] | None:
    """``"all"`` → None; ``"votes >= 8"`` → ('votes', '>=', 8.0); anything else a ConfigError.

    >>> parse_filter("votes >= 8", "x"), parse_filter("all", "x")
    (('votes', '>=', 8.0), None)
    """
    if text.strip() == "all":
        return None
    m = _FILTER.match(text)
    if not m:
        raise ConfigError(where, expected="'all' or '<column> <op> <number>' (op: >= > <= < == !=)", found=f"'{text}'",
                          fix="e.g. filter: \"votes >= 8\" (votes: the row's total annotator votes)")
    try:
        return m.group(1), m.group(2), float(m.group(3))
    except ValueError:
        raise ConfigError(where, expected="a number after the operator", found=f"'{text}'", fix="e.g. votes >= 8") from None


class SignalParams(VisionParams):
    signals: SignalSource
    sample_rate: float = Field(gt=0)  # Hz, for mel/lfcc filter frequencies
    length: int | None = Field(default=None, ge=2)  # samples after padding/cropping; None: all signals equal
    pad: Literal["zero", "edge", "wrap"] | None = None  # policy for signals shorter than length
    crop: Literal["start", "center", "end"] = "center"  # which part of a longer signal is kept
    scale: Literal["sample", "global", "none"] = "sample"  # sample: per-signal standardisation; global: train mean/std
    branches: list[Branch] = Field(min_length=1)
    branch_loss: float = Field(default=1.0, ge=0)  # loss = final + branch_loss × mean(branch losses)
    votes: list[str] | None = None  # per-class vote-count columns, class order: soft-label targets
    min_votes: int | None = Field(default=None, ge=1)  # drop training rows with fewer total votes (needs votes or task distribution)
    curriculum: list[Stage] | None = None  # dataset switch inside one run (HMS)
    spec_augment: SpecAugmentConfig | None = None

    @model_validator(mode="after")
    def _signal_checks(self) -> "SignalParams":
        names = [b.name for b in self.branches]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"branch names must be unique; '{dup[0]}' repeats")
        for b in self.branches:
            if b.input == "provided" and b.source is None:
                raise ValueError(f"branch '{b.name}': input 'provided' needs source: {{npy|hdf5: ..., key: ...}}")
            if b.input in ("raw", "rms", "provided") and b.fmax is not None:
                raise ValueError(f"branch '{b.name}': fmax applies to mel/lfcc/mfcc only")
            if b.fmax is not None and b.fmax > self.sample_rate / 2:
                raise ValueError(f"branch '{b.name}': fmax {b.fmax} above the Nyquist frequency {self.sample_rate / 2}")
            if b.input == "banana" and not b.electrodes:
                raise ValueError(f"branch '{b.name}': input 'banana' needs electrodes: the 10-20 name of each channel")
            if b.resizer is not None and b.resolved_net() != "timm":
                raise ValueError(f"branch '{b.name}': resizer needs net 'timm'")
            if b.resolved_net() == "timm" and b.input == "raw":
                raise ValueError(f"branch '{b.name}': a raw waveform feeds cnn1d or gru, not timm")
        if self.length is None and self.pad is not None:
            raise ValueError("pad needs length: the number of samples to pad/crop to")
        return self

    @classmethod
    def parse(cls, params: dict[str, Any], source: str = "model.params") -> "SignalParams":
        p = validate(cls, params, source)
        bad = [k for k in _IMAGE_ONLY if k in p.model_fields_set]
        if bad:
            raise ConfigError(f"{source}.{bad[0]}", expected="a signal-model parameter",
                              found=f"image-model key '{bad[0]}'",
                              fix="network settings (backbone, img_size, pretrained…) go on each branch")
        if p.curriculum:
            for i, st in enumerate(p.curriculum):
                parse_filter(st.filter, f"{source}.curriculum[{i}].filter")
        return p

    def resolved_lr(self) -> float:
        return self.lr if self.lr is not None else 1e-3

    def total_epochs(self) -> int:
        return sum(s.epochs for s in self.curriculum) if self.curriculum else self.epochs
