"""Every registered signal front-end meets its contract: (B, C, T) → image (B, C, F, T') or sequence."""

from __future__ import annotations

import pytest
import torch

from medalist.signal.config import Branch
from medalist.signal.frontends import IMAGE_INPUTS, get_frontend, list_frontends

EEG_19 = ["Fp1", "F3", "C3", "P3", "F7", "T3", "T5", "O1", "Fz", "Cz", "Pz", "Fp2", "F4", "C4", "P4", "F8", "T4", "T6", "O2"]


def test_builtin_names_and_image_inputs_are_registered():
    assert {"raw", "stft", "cwt", "mel", "mfcc", "lfcc", "rms", "provided"} <= set(list_frontends())
    assert all(get_frontend(n).image for n in IMAGE_INPUTS)


@pytest.mark.parametrize("name", list_frontends())
def test_every_frontend_maps_a_waveform_batch_to_its_declared_shape(name):
    fe = get_frontend(name)
    assert fe.name == name and fe.net in ("timm", "cnn1d", "gru")
    electrodes = EEG_19 if name == "banana" else None  # a montage maps 19 named electrodes to 18 differences
    module = fe.make(Branch(name=name, input=name, n_fft=64, n_mels=16, n_filters=16, n_scales=8, scale_max=16,
                            electrodes=electrodes), 1000.0)
    if module is None:  # the waveform itself (raw) or arrays read from disk (provided)
        assert name in ("raw", "provided")
        return
    c_in, c_out = (19, 18) if name == "banana" else (3, 3)
    with torch.no_grad():
        out = module(torch.randn(2, c_in, 512))
    assert out.shape[:2] == (2, c_out) and torch.isfinite(out).all()
    if fe.image:
        assert out.ndim == 4 and out.shape[2] > 1 and out.shape[3] > 1
    else:
        assert out.ndim == 3 or (out.ndim == 4 and out.shape[2] == 1)
