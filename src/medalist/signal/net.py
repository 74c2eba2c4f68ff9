"""The multi-branch signal network (HMS P-SHA).

Each branch turns the waveform batch into its input (raw, a spectrogram image or a feature
sequence), runs its network (a timm backbone via the image trainer's :func:`build_net`, a 1-D CNN or
a GRU), and has its own head. The branch features are concatenated into the final head; training
uses ``loss = final + branch_loss × weighted mean(branch losses)``.

>>> import torch
>>> LearnedResizer(1, (32, 48), filters=4, blocks=1)(torch.zeros(2, 1, 20, 30)).shape
torch.Size([2, 1, 32, 48])
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from medalist.core.errors import ConfigError
from medalist.signal.config import FRONTENDS, Branch, SignalParams, SpecAugmentConfig
from medalist.vision.resizer import LearnedResizer

__all__ = ["SignalNet", "LearnedResizer", "spec_augment", "build_frontend", "build_signal_net", "check_windows"]

log = logging.getLogger("medalist.signal")

_WINDOWED = ("stft", "mel", "mfcc", "lfcc", "rms")  # front-ends that slide an n_fft window with hop
MIN_FRAMES = 4  # fewer time frames than this: a warning (the image is a few columns wide)


def check_windows(p: SignalParams, length: int) -> None:
    """ConfigError when a branch's ``n_fft`` window is longer than the signal (``length`` samples after
    cropping/padding); a warning when its spectrogram has fewer than :data:`MIN_FRAMES` time frames.
    """
    for i, b in enumerate(p.branches):
        if b.input not in _WINDOWED:
            continue
        hop = b.hop or b.n_fft // 4
        frames = 1 + length // hop
        where = f"model.params.branches[{i}].n_fft (branch '{b.name}', input {b.input})"
        if b.n_fft > length:
            suggest = 1 << (length.bit_length() - 1)  # the largest power of two that fits
            raise ConfigError(where, expected=f"at most the signal length ({length} samples)",
                              found=f"{b.n_fft} (a window longer than the signal: {frames} time frames, mostly padding)",
                              fix=f"set n_fft <= {length} (e.g. {suggest}) or a longer model.params.length")
        if frames < MIN_FRAMES:
            log.warning("%s: n_fft %d with hop %d on %d-sample signals gives only %d time frames; a smaller hop or "
                        "n_fft gives the network a time axis to learn from", where, b.n_fft, hop, length, frames)


def build_frontend(b: Branch, sr: float) -> nn.Module | None:
    """The front-end module of a branch (None for raw and provided inputs), by its registered name."""
    return FRONTENDS.get(b.input).make(b, sr)


def spec_augment(x: torch.Tensor, cfg: SpecAugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero ``n_masks`` random bands of rows (frequency) and of columns (time), each at most ``alpha`` ×
    the size wide, in a random ``p`` share of the (B, C, F, T) batch; masks differ per sample."""
    b, _, h, w = x.shape
    dev = x.device
    keep = torch.ones(b, 1, h, w, device=dev, dtype=x.dtype)
    apply = (torch.rand(b, generator=generator) < cfg.p).to(dev)
    for _ in range(cfg.n_masks):
        for axis, n in ((2, h), (3, w)):
            width = (torch.rand(b, generator=generator) * (int(cfg.alpha * n) + 1)).long().clamp(max=n)
            start = (torch.rand(b, generator=generator) * (n - width + 1)).long()
            pos = torch.arange(n)[None, :]
            band = ((pos >= start[:, None]) & (pos < (start + width)[:, None])).to(dev)  # (B, n)
            band = band & apply[:, None]
            band = band[:, None, :, None] if axis == 2 else band[:, None, None, :]
            keep = keep * (~band).to(x.dtype)
    return x * keep


class _CNN1d(nn.Module):
    """Strided 1-D convolutions (Conv-BN-ReLU, stride 2) → global average + max pooling."""

    def __init__(self, chans: int, hidden: int, layers: int) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        c = chans
        for i in range(layers):
            out = hidden * min(2 ** i, 4)
            mods += [nn.Conv1d(c, out, 7 if i == 0 else 5, stride=2, padding=3 if i == 0 else 2, bias=False),
                     nn.BatchNorm1d(out), nn.ReLU(inplace=True)]
            c = out
        self.body = nn.Sequential(*mods)
        self.num_features = 2 * c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.body(x)
        return torch.cat([z.mean(-1), z.amax(-1)], dim=1)


class _GRU(nn.Module):
    """Bidirectional GRU over time → mean + last-step features."""

    def __init__(self, chans: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.gru = nn.GRU(chans, hidden, num_layers=min(layers, 2), batch_first=True, bidirectional=True)
        self.num_features = 4 * hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z, _ = self.gru(x.transpose(1, 2))  # (B, T, 2H)
        return torch.cat([z.mean(1), z[:, -1]], dim=1)


class _Branch(nn.Module):
    def __init__(self, b: Branch, p: SignalParams, chans: int, length: int, n_out: int,
                 provided_shape: tuple[int, ...] | None) -> None:
        super().__init__()
        self.spec = b
        self.kind = b.resolved_net()
        self.frontend = build_frontend(b, p.sample_rate)
        self.log = FRONTENDS.get(b.input).log
        self.resizer = None
        probe = torch.zeros(1, chans, length)
        if b.input == "provided":
            feat_shape = tuple(provided_shape or ())
        elif self.frontend is None:
            feat_shape = tuple(probe.shape[1:])
        else:
            with torch.no_grad():
                feat_shape = tuple(self.frontend(probe).shape[1:])
        if self.kind == "timm":
            c_in = feat_shape[0]
            self.norm: nn.Module = nn.BatchNorm2d(c_in)
            from medalist.vision.config import VisionParams
            from medalist.vision.net import build_net

            vp = VisionParams(backbone=b.backbone, pretrained=b.pretrained, in_chans=c_in, pool=b.pool, drop=b.drop)
            self.net = build_net(vp, n_out, [])
            if b.resizer is not None:
                self.resizer = LearnedResizer(c_in, b.size(), b.resizer.filters, b.resizer.blocks)
            self.num_features = self.net.backbone.num_features
        else:
            seq_chans = feat_shape[0] if len(feat_shape) == 2 else feat_shape[0] * feat_shape[1]
            self.norm = nn.BatchNorm1d(seq_chans)
            self.net = _CNN1d(seq_chans, b.hidden, b.layers) if self.kind == "cnn1d" else _GRU(seq_chans, b.hidden, b.layers)
            self.num_features = self.net.num_features
            self.head = nn.Linear(self.num_features, n_out)
            self.drop = nn.Dropout(b.drop)

    def forward(self, x: torch.Tensor, provided: torch.Tensor | None, augment: Any) -> tuple[torch.Tensor, torch.Tensor]:
        z = provided.float() if provided is not None else (self.frontend(x) if self.frontend is not None else x)
        if self.log:
            z = torch.log1p(z)
        if self.kind == "timm":
            if z.ndim == 3:
                z = z[:, None]
            if augment is not None:
                z = augment(z)
            z = self.norm(z)
            z = self.resizer(z) if self.resizer is not None else F.interpolate(z, size=self.spec.size(), mode="bilinear", align_corners=False)
            f = self.net.drop(self.net.features(z))
            return f, self.net.head(f)
        if z.ndim == 4:
            if augment is not None:
                z = augment(z)
            z = z.flatten(1, 2)
        f = self.drop(self.net(self.norm(z)))
        return f, self.head(f)


class SignalNet(nn.Module):
    """Branches → concatenated features → final head. forward → (final logits, [branch logits])."""

    def __init__(self, p: SignalParams, chans: int, length: int, n_out: int,
                 provided_shapes: dict[str, tuple[int, ...]] | None = None) -> None:
        super().__init__()
        shapes = provided_shapes or {}
        check_windows(p, length)
        self.p = p
        self.branches = nn.ModuleDict({b.name: _Branch(b, p, chans, length, n_out, shapes.get(b.name)) for b in p.branches})
        width = sum(br.num_features for br in self.branches.values())
        self.drop = nn.Dropout(p.drop)
        self.head = nn.Linear(width, n_out)
        self.mask_gen = torch.Generator().manual_seed(0)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:  # the image module's hook: waveforms arrive scaled
        return x.float()

    def forward(self, x: torch.Tensor, normalized: bool = True, provided: dict[str, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        provided = provided or {}
        aug = None
        if self.training and self.p.spec_augment is not None:
            cfg = self.p.spec_augment
            aug = lambda z: spec_augment(z, cfg, self.mask_gen)  # noqa: E731
        feats, logits = [], []
        for name, br in self.branches.items():
            f, lg = br(x, provided.get(name), aug)
            feats.append(f)
            logits.append(lg)
        return self.head(self.drop(torch.cat(feats, dim=1))), logits


def build_signal_net(p: SignalParams, chans: int, length: int, n_out: int,
                     provided_shapes: dict[str, tuple[int, ...]] | None = None) -> SignalNet:
    return SignalNet(p, chans, length, n_out, provided_shapes)
