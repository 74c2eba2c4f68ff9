"""An STFT/mel window longer than the signal is an error naming the key and the length; few frames warn."""

from __future__ import annotations

import pytest

from medalist.core.errors import ConfigError
from medalist.signal.config import SignalParams
from medalist.signal.net import build_signal_net


def _params(**branch):
    return SignalParams.parse({"signals": {"columns": ["x"]}, "sample_rate": 100,
                               "branches": [{"name": "w", "input": "raw", "hidden": 4}, {"name": "m", "hidden": 4, **branch}]})


def test_n_fft_longer_than_the_signal_is_an_error_naming_key_and_length():
    with pytest.raises(ConfigError) as e:
        build_signal_net(_params(input="mel", n_fft=256, n_mels=8), chans=1, length=100, n_out=3)
    msg = str(e.value)
    assert msg.startswith("model.params.branches[1].n_fft (branch 'm', input mel)")
    assert "at most the signal length (100 samples)" in msg and "found 256" in msg and "2 time frames" in msg
    assert "e.g. 64" in msg


def test_few_time_frames_warn_and_a_fitting_window_is_quiet(caplog):
    with caplog.at_level("WARNING", logger="medalist"):
        build_signal_net(_params(input="stft", n_fft=64, hop=64, img_size=16, backbone="test_efficientnet"),
                         chans=1, length=100, n_out=3)
    assert "n_fft 64 with hop 64 on 100-sample signals gives only 2 time frames" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="medalist"):
        build_signal_net(_params(input="rms", n_fft=16, hop=8), chans=1, length=100, n_out=3)
    assert "time frames" not in caplog.text
