"""Signal front-ends as torch modules: waveform batch (B, C, T) → image (B, C, F, T') or sequence.

Every front-end runs on the batch's device (CPU or GPU), so a spectrogram is computed once per batch
where the network is, never stored. Filters come from librosa (mel) and PyWavelets (wavelets), at
build time, as buffers; the numbers match the reference libraries on the same input (tests/signal):

- ``stft``: |STFT| magnitude (torch.stft, Hann window, centred, zero padding: librosa's defaults)
- ``mel``: mel power spectrogram in dB (librosa.filters.mel, slaney norm; power_to_db with top_db)
- ``mfcc``: DCT-II (orthonormal) of the mel dB spectrogram, first ``n_mfcc`` rows (librosa.feature.mfcc)
- ``lfcc``: the same with linearly spaced triangular filters (linear-frequency cepstral coefficients)
- ``rms``: frame RMS envelope (librosa.feature.rms), shape (B, C, 1, T')
- ``cwt``: |CWT| scalogram, PyWavelets' ``cwt(method='conv')`` computed for the whole batch with one FFT
  convolution per scale set (HMS: the scalogram beat the STFT spectrogram)

>>> import torch
>>> STFT(n_fft=64, hop=16)(torch.zeros(2, 1, 256)).shape
torch.Size([2, 1, 33, 17])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from medalist.signal.config import (
    FRONTENDS,
    FrontEnd,
    get_frontend,
    list_frontends,
    register_frontend,
)

__all__ = ["STFT", "Mel", "MFCC", "LFCC", "RMS", "CWT", "power_to_db", "dct_matrix", "linear_filters",
           "FRONTENDS", "FrontEnd", "IMAGE_INPUTS", "cwt_scales", "register_frontend", "get_frontend", "list_frontends"]

# Front-ends whose output is a 2-D time-frequency image; ``rms`` is an envelope (1 row).
IMAGE_INPUTS = ("stft", "cwt", "mel", "mfcc", "lfcc", "provided")


def _frames(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    """(B, C, T) → (B*C, T) and the leading shape to restore."""
    lead = tuple(x.shape[:-1])
    return x.reshape(-1, x.shape[-1]).float(), lead


def power_to_db(s: torch.Tensor, top_db: float | None = 80.0, amin: float = 1e-10) -> torch.Tensor:
    """10·log10(max(s, amin)), floored at (max − top_db) per signal (librosa.power_to_db, ref=1).

    ``s`` is (N, F, T); the max is taken per signal, as librosa does for one signal.
    """
    db = 10.0 * torch.log10(s.clamp(min=amin))
    if top_db is not None:
        peak = db.amax(dim=(-2, -1), keepdim=True)
        db = torch.maximum(db, peak - top_db)
    return db


def dct_matrix(n_out: int, n_in: int) -> torch.Tensor:
    """Orthonormal DCT-II as an (n_out, n_in) matrix (scipy.fft.dct(type=2, norm='ortho') rows)."""
    n = torch.arange(n_in, dtype=torch.float64)
    k = torch.arange(n_out, dtype=torch.float64)[:, None]
    m = torch.cos(math.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)
    m[0] /= math.sqrt(2.0)
    return m.float()


def linear_filters(sr: float, n_fft: int, n_filters: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Triangular filters with linearly spaced centres, area-normalised like slaney mel filters.

    >>> linear_filters(8000, 64, 8).shape
    (8, 33)
    """
    fmax = sr / 2 if fmax is None else fmax
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    edges = np.linspace(fmin, fmax, n_filters + 2)
    fb = np.zeros((n_filters, len(freqs)))
    for i in range(n_filters):
        lo, c, hi = edges[i], edges[i + 1], edges[i + 2]
        up = (freqs - lo) / (c - lo)
        down = (hi - freqs) / (hi - c)
        fb[i] = np.maximum(0, np.minimum(up, down)) * 2.0 / (hi - lo)
    return fb.astype(np.float32)


class STFT(nn.Module):
    """|STFT| (or power) of each channel: (B, C, T) → (B, C, n_fft//2+1, frames)."""

    def __init__(self, n_fft: int = 256, hop: int | None = None, win: int | None = None, power: float = 1.0) -> None:
        super().__init__()
        self.n_fft, self.hop, self.win = n_fft, hop or n_fft // 4, win or n_fft
        self.power = power
        # scipy's periodic Hann, as librosa's get_window('hann') uses
        self.register_buffer("window", torch.hann_window(self.win, periodic=True), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat, lead = _frames(x)
        spec = torch.stft(flat, self.n_fft, hop_length=self.hop, win_length=self.win, window=self.window,
                          center=True, pad_mode="constant", return_complex=True)
        mag = spec.abs()
        if self.power != 1.0:
            mag = mag.pow(self.power)
        return mag.reshape(*lead, *mag.shape[-2:])


class _FilterBankDB(nn.Module):
    """Filter bank on the power spectrogram, in dB; optionally a DCT (cepstral coefficients)."""

    def __init__(self, fb: np.ndarray, n_fft: int, hop: int | None, top_db: float | None, n_coef: int | None) -> None:
        super().__init__()
        self.stft = STFT(n_fft, hop, power=2.0)
        self.register_buffer("fb", torch.as_tensor(fb, dtype=torch.float32), persistent=False)
        self.top_db = top_db
        if n_coef is not None:
            self.register_buffer("dct", dct_matrix(n_coef, fb.shape[0]), persistent=False)
        else:
            self.dct = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        power = self.stft(x)
        lead = power.shape[:-2]
        s = torch.matmul(self.fb, power.reshape(-1, *power.shape[-2:]))
        db = power_to_db(s, self.top_db)
        if self.dct is not None:
            db = torch.matmul(self.dct, db)
        return db.reshape(*lead, *db.shape[-2:])


class Mel(_FilterBankDB):
    """Mel power spectrogram in dB: (B, C, T) → (B, C, n_mels, frames)."""

    def __init__(self, sr: float, n_fft: int = 256, hop: int | None = None, n_mels: int = 64, fmin: float = 0.0,
                 fmax: float | None = None, top_db: float | None = 80.0) -> None:
        import librosa

        fb = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        super().__init__(fb, n_fft, hop, top_db, None)


class MFCC(_FilterBankDB):
    """MFCCs: (B, C, T) → (B, C, n_mfcc, frames)."""

    def __init__(self, sr: float, n_fft: int = 256, hop: int | None = None, n_mels: int = 64, n_mfcc: int = 20,
                 fmin: float = 0.0, fmax: float | None = None, top_db: float | None = 80.0) -> None:
        import librosa

        fb = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        super().__init__(fb, n_fft, hop, top_db, n_mfcc)


class LFCC(_FilterBankDB):
    """Linear-frequency cepstral coefficients: (B, C, T) → (B, C, n_lfcc, frames)."""

    def __init__(self, sr: float, n_fft: int = 256, hop: int | None = None, n_filters: int = 64, n_lfcc: int = 20,
                 fmin: float = 0.0, fmax: float | None = None, top_db: float | None = 80.0) -> None:
        super().__init__(linear_filters(sr, n_fft, n_filters, fmin, fmax), n_fft, hop, top_db, n_lfcc)


class RMS(nn.Module):
    """Frame RMS envelope (centred frames, zero padding): (B, C, T) → (B, C, 1, frames)."""

    def __init__(self, frame: int = 256, hop: int | None = None) -> None:
        super().__init__()
        self.frame, self.hop = frame, hop or frame // 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat, lead = _frames(x)
        padded = F.pad(flat, (self.frame // 2, self.frame // 2))
        frames = padded.unfold(-1, self.frame, self.hop)  # (N, frames, frame)
        rms = frames.pow(2).mean(-1).sqrt()
        return rms.reshape(*lead, 1, rms.shape[-1])


class CWT(nn.Module):
    """|CWT| scalogram of each channel: (B, C, T) → (B, C, n_scales, T), batched on the device.

    Reproduces ``pywt.cwt(x, scales, wavelet, method='conv')`` (up to float32 rounding): for each
    scale the integrated wavelet resampled at that scale is convolved with the signal (all scales
    at once by FFT), differenced, scaled by −√scale and centred. ``stride`` keeps every n-th time
    step of the result.
    """

    def __init__(self, scales: list[float] | np.ndarray, wavelet: str = "morl", precision: int = 12, stride: int = 1) -> None:
        super().__init__()
        import pywt

        w = pywt.ContinuousWavelet(wavelet) if wavelet in pywt.wavelist(kind="continuous") else pywt.DiscreteContinuousWavelet(wavelet)
        int_psi, grid = pywt.integrate_wavelet(w, precision=precision)
        int_psi = np.conj(int_psi) if w.complex_cwt else int_psi
        step = grid[1] - grid[0]
        kernels = []
        self.scales = [float(s) for s in np.atleast_1d(scales)]
        for s in self.scales:
            j = (np.arange(s * (grid[-1] - grid[0]) + 1) / (s * step)).astype(int)
            j = j[j < int_psi.size]
            if j.size < 2:
                from medalist.core.errors import ConfigError

                raise ConfigError(f"cwt scale {s}", expected=f"a scale wide enough for wavelet '{wavelet}' (>= 2 taps)",
                                  found="fewer than 2 kernel taps", fix="raise the smallest scale (scales: [2, ...])")
            kernels.append(np.asarray(int_psi[j][::-1]))
        self.lengths = [k.size for k in kernels]
        width = max(self.lengths)
        bank = np.zeros((len(kernels), width), dtype=np.complex64)
        for i, k in enumerate(kernels):
            bank[i, :k.size] = k
        self.register_buffer("bank", torch.as_tensor(bank), persistent=False)
        self.register_buffer("gain", -torch.sqrt(torch.tensor(self.scales, dtype=torch.float32))[:, None], persistent=False)
        self.complex = bool(w.complex_cwt)
        self.stride = stride
        self._cache: dict[tuple[int, Any], tuple[torch.Tensor, torch.Tensor]] = {}

    def _plan(self, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        key = (n, device)
        if key not in self._cache:
            size = 1 << (n + self.bank.shape[1] - 1).bit_length()
            kf = torch.fft.fft(self.bank, size, dim=-1)
            # coef = diff(conv)[start: start + n] with start = floor((L - 2) / 2) per scale
            start = torch.tensor([(length - 2) // 2 for length in self.lengths], device=device)
            idx = start[:, None] + torch.arange(0, n, self.stride, device=device)[None, :]
            self._cache[key] = (kf, idx)
        return self._cache[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat, lead = _frames(x)
        n = flat.shape[-1]
        kf, idx = self._plan(n, flat.device)
        xf = torch.fft.fft(flat.to(torch.complex64), kf.shape[-1], dim=-1)  # (N, size)
        conv = torch.fft.ifft(xf[:, None, :] * kf[None], dim=-1)  # (N, S, size)
        if not self.complex:
            conv = conv.real
        gather = idx[None].expand(conv.shape[0], -1, -1)
        coef = (torch.gather(conv, -1, gather + 1) - torch.gather(conv, -1, gather)) * self.gain
        out = coef.abs()
        return out.reshape(*lead, *out.shape[-2:])


def cwt_scales(n: int, smin: float, smax: float, spacing: str = "log") -> np.ndarray:
    """``n`` scales from ``smin`` to ``smax``, log- or linearly spaced.

    >>> cwt_scales(3, 1, 4).tolist()
    [1.0, 2.0, 4.0]
    """
    if spacing == "log":
        return np.geomspace(smin, smax, n)
    return np.linspace(smin, smax, n)


# Builders of the built-in front-ends, named as "module:function" in signal/config.py's registry
# (a config validates without importing torch). ``b`` is a signal.config.Branch.
def build_stft(b: Any, sr: float) -> nn.Module:
    return STFT(b.n_fft, b.hop)


def build_mel(b: Any, sr: float) -> nn.Module:
    return Mel(sr, b.n_fft, b.hop, b.n_mels, b.fmin, b.fmax, b.top_db)


def build_mfcc(b: Any, sr: float) -> nn.Module:
    return MFCC(sr, b.n_fft, b.hop, b.n_mels, b.n_mfcc, b.fmin, b.fmax, b.top_db)


def build_lfcc(b: Any, sr: float) -> nn.Module:
    return LFCC(sr, b.n_fft, b.hop, b.n_filters, b.n_lfcc, b.fmin, b.fmax, b.top_db)


def build_rms(b: Any, sr: float) -> nn.Module:
    return RMS(b.n_fft, b.hop)


def build_cwt(b: Any, sr: float) -> nn.Module:
    scales = b.scales if b.scales else cwt_scales(b.n_scales, b.scale_min, b.scale_max)
    return CWT(scales, b.wavelet, stride=b.stride)
