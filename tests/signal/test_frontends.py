"""Front-ends against the reference libraries on the same input (librosa, PyWavelets, scipy)."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import pywt
import scipy.fft
import torch

from medalist.signal.frontends import (
    CWT,
    LFCC,
    MFCC,
    RMS,
    STFT,
    Mel,
    cwt_scales,
    dct_matrix,
    linear_filters,
    power_to_db,
)

SR = 8000


@pytest.fixture(scope="module")
def chirp() -> np.ndarray:
    """A chirp plus noise: energy moves across frequencies, so a wrong axis or scale shows."""
    t = np.arange(1500) / SR
    rng = np.random.default_rng(0)
    y = np.sin(2 * np.pi * (200 + 1200 * t) * t) + 0.1 * rng.standard_normal(t.size)
    return y.astype(np.float32)


def _run(module: torch.nn.Module, y: np.ndarray) -> np.ndarray:
    return module(torch.from_numpy(y)[None, None])[0, 0].numpy()


def test_stft_matches_librosa(chirp):
    ours = _run(STFT(n_fft=128, hop=32), chirp)
    ref = np.abs(librosa.stft(chirp, n_fft=128, hop_length=32))
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-4 * ref.max())


def test_mel_db_matches_librosa(chirp):
    ours = _run(Mel(SR, n_fft=256, hop=64, n_mels=32, fmin=50, fmax=3500), chirp)
    ref = librosa.power_to_db(librosa.feature.melspectrogram(y=chirp, sr=SR, n_fft=256, hop_length=64, n_mels=32,
                                                             fmin=50, fmax=3500))
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_mfcc_matches_librosa(chirp):
    ours = _run(MFCC(SR, n_fft=256, hop=64, n_mels=40, n_mfcc=13), chirp)
    ref = librosa.feature.mfcc(y=chirp, sr=SR, n_fft=256, hop_length=64, n_mels=40, n_mfcc=13)
    assert ours.shape == ref.shape == (13, 24)
    np.testing.assert_allclose(ours, ref, atol=2e-3 * np.abs(ref).max())


def test_lfcc_matches_a_numpy_reference(chirp):
    ours = _run(LFCC(SR, n_fft=256, hop=64, n_filters=30, n_lfcc=12), chirp)
    power = np.abs(librosa.stft(chirp, n_fft=256, hop_length=64)) ** 2
    ref = scipy.fft.dct(librosa.power_to_db(linear_filters(SR, 256, 30) @ power), type=2, norm="ortho", axis=0)[:12]
    np.testing.assert_allclose(ours, ref, atol=2e-3 * np.abs(ref).max())


def test_linear_filters_are_triangles_at_linear_centres():
    fb = linear_filters(SR, 256, 10)
    freqs = np.linspace(0, SR / 2, 129)
    centres = freqs[fb.argmax(1)]
    assert np.all(np.diff(centres) > 0)
    np.testing.assert_allclose(np.diff(centres), np.diff(centres).mean(), atol=freqs[1])  # evenly spaced
    assert (fb >= 0).all() and np.all((fb > 0).sum(1) >= 2)


def test_dct_matrix_is_scipy_dct():
    x = np.random.default_rng(1).standard_normal((16, 5))
    np.testing.assert_allclose(dct_matrix(16, 16).double().numpy() @ x, scipy.fft.dct(x, type=2, norm="ortho", axis=0), atol=1e-5)


def test_rms_matches_librosa(chirp):
    ours = _run(RMS(frame=128, hop=32), chirp)
    ref = librosa.feature.rms(y=chirp, frame_length=128, hop_length=32)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-5)


@pytest.mark.parametrize("wavelet", ["morl", "cmor1.5-1.0", "mexh"])
def test_batched_cwt_matches_pywavelets(chirp, wavelet):
    scales = cwt_scales(12, 1, 48)
    batch = np.stack([chirp[:800], chirp[700:1500]])[:, None]  # (2, 1, 800): two different signals
    ours = CWT(scales, wavelet)(torch.from_numpy(batch)).numpy()
    assert ours.shape == (2, 1, 12, 800)
    for i in range(2):
        ref = np.abs(pywt.cwt(batch[i, 0].astype(np.float64), scales, wavelet, method="conv")[0])
        np.testing.assert_allclose(ours[i, 0], ref, atol=1e-4 * ref.max())


def test_cwt_stride_and_multichannel(chirp):
    x = torch.from_numpy(np.stack([chirp[:600], -chirp[:600], chirp[:600] * 2]))[None]  # (1, 3, 600)
    full = CWT([2.0, 8.0])(x)
    strided = CWT([2.0, 8.0], stride=4)(x)
    assert full.shape == (1, 3, 2, 600) and strided.shape == (1, 3, 2, 150)
    torch.testing.assert_close(strided, full[..., ::4])
    torch.testing.assert_close(full[0, 1], full[0, 0], atol=1e-5, rtol=1e-4)  # |CWT(-x)| = |CWT(x)|
    torch.testing.assert_close(full[0, 2], 2 * full[0, 0], atol=1e-4, rtol=1e-4)


def test_power_to_db_top_db_is_per_signal():
    s = torch.tensor([[[1.0, 1e-12]], [[1e-3, 1e-12]]])
    db = power_to_db(s, top_db=80)
    ref0 = librosa.power_to_db(s[0].numpy(), top_db=80)
    ref1 = librosa.power_to_db(s[1].numpy(), top_db=80)
    np.testing.assert_allclose(db[0].numpy(), ref0, atol=1e-4)
    np.testing.assert_allclose(db[1].numpy(), ref1, atol=1e-4)


def test_cwt_scale_too_small_is_a_config_error():
    pytest.importorskip("torch")
    from medalist.core.errors import ConfigError
    from medalist.signal.frontends import CWT

    with pytest.raises(ConfigError, match=r"cwt scale 0.01.*morl"):
        CWT([0.01], "morl")
