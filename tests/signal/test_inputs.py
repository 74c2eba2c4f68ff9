"""Bad input → a clear MedalistError: ragged lengths, sample-rate keys, NaNs, votes, filters."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from medalist.core.errors import ConfigError, DataError, MedalistError
from medalist.models.protocol import FitContext
from medalist.models.registry import create_model

BRANCHES = [{"name": "wave", "input": "raw", "hidden": 4, "layers": 1}]


def _params(**kw):
    return {"signals": {"columns": ["x"]}, "sample_rate": 100, "epochs": 1, "branches": BRANCHES, **kw}


def _frame(lengths, nan_row=None):
    rng = np.random.default_rng(0)
    sig = [rng.standard_normal(n).astype(np.float32) for n in lengths]
    if nan_row is not None:
        sig[nan_row][3] = np.nan
    return pl.DataFrame({"x": pl.Series([s.tolist() for s in sig], dtype=pl.List(pl.Float32)),
                         "label": np.arange(len(lengths)) % 2})


CTX = FitContext(task="binary", target=["label"], features=[], threads=1)


def test_ragged_lengths_without_padding_policy():
    m = create_model("signal", _params())
    with pytest.raises(DataError) as e:
        m.fit(_frame([64, 64, 80, 50]), None, CTX)
    msg = str(e.value)
    assert "one length" in msg and "50" in msg and "80" in msg and "pad" in msg


def test_short_signal_with_length_but_no_pad():
    m = create_model("signal", _params(length=60))
    with pytest.raises(DataError, match=r"row 3.*at least 60 samples.*50 samples.*pad"):
        m.fit(_frame([64, 64, 80, 50]), None, CTX)


def test_nan_in_signal_names_row_and_sample():
    m = create_model("signal", _params(length=64, pad="zero"))
    with pytest.raises(DataError, match=r"row 2.*finite samples.*1 NaN/inf.*sample 3"):
        m.fit(_frame([64, 64, 70, 64], nan_row=2), None, CTX)


@pytest.mark.parametrize("key", ["sr", "sampling_rate", "sample_rate_hz"])
def test_wrong_sample_rate_key(key):
    params = _params()
    params[key] = params.pop("sample_rate")
    with pytest.raises(ConfigError) as e:
        create_model("signal", params)
    assert f"unknown key '{key}'" in str(e.value) and "sample_rate" in str(e.value)


def test_missing_sample_rate_and_fmax_above_nyquist():
    params = _params()
    params.pop("sample_rate")
    with pytest.raises(ConfigError, match="sample_rate"):
        create_model("signal", params)
    with pytest.raises(ConfigError, match="Nyquist"):
        create_model("signal", _params(branches=[{"name": "m", "input": "mel", "fmax": 80}]))


def test_config_mistakes():
    with pytest.raises(ConfigError, match="image-model key 'backbone'"):
        create_model("signal", _params(backbone="resnet18"))
    with pytest.raises(ConfigError, match="unique"):
        create_model("signal", _params(branches=BRANCHES * 2))
    with pytest.raises(ConfigError, match="raw waveform feeds cnn1d or gru"):
        create_model("signal", _params(branches=[{"name": "w", "input": "raw", "net": "timm"}]))
    with pytest.raises(ConfigError, match="filter"):
        create_model("signal", _params(curriculum=[{"epochs": 1, "filter": "votes at least 8"}]))
    with pytest.raises(ConfigError, match="min_votes needs votes"):
        create_model("signal", _params(min_votes=3)).fit(_frame([64, 64]), None, CTX)  # checked at fit: needs the task
    with pytest.raises(ConfigError, match="timm model name"):
        create_model("signal", _params(branches=[{"name": "s", "input": "stft", "backbone": "resnet_nope"}]))


def test_signal_column_problems():
    m = create_model("signal", _params())
    with pytest.raises(DataError, match="no such column"):
        m.fit(_frame([64, 64]).rename({"x": "y"}), None, CTX)
    bad = pl.DataFrame({"x": [1.0, 2.0], "label": [0, 1]})
    with pytest.raises(DataError, match="list-of-numbers column"):
        m.fit(bad, None, CTX)


def test_curriculum_filter_on_unknown_column_and_empty_stage():
    df = _frame([64] * 6).with_columns(pl.Series("q", [1, 2, 3, 4, 5, 6]))
    m = create_model("signal", _params(curriculum=[{"epochs": 1, "filter": "vots >= 2"}]))
    with pytest.raises(DataError, match="did you mean"):
        m.fit(df, None, CTX)
    m = create_model("signal", _params(curriculum=[{"epochs": 1, "filter": "all"}, {"epochs": 1, "filter": "q > 9"}]))
    with pytest.raises(DataError, match="none pass 'q > 9'"):
        m.fit(df, None, CTX)


def test_votes_need_a_multiclass_task_and_one_column_per_class():
    df = _frame([64] * 4).with_columns(pl.Series("v0", [1, 2, 0, 3]), pl.Series("v1", [0, 1, 5, 3]))
    m = create_model("signal", _params(votes=["v0", "v1"]))
    with pytest.raises(ConfigError, match="multiclass"):
        m.fit(df, None, CTX)
    ctx3 = FitContext(task="multiclass", target=["label"], features=[], n_classes=3, threads=1)
    with pytest.raises(DataError, match="3 vote columns"):
        m.fit(df, None, ctx3)


def test_npy_source_key_range(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "sig.npy", np.zeros((3, 64), np.float32))
    m = create_model("signal", _params(signals={"npy": "sig.npy", "key": "row"}))
    df = pl.DataFrame({"row": [0, 1, 5], "label": [0, 1, 0]})
    with pytest.raises(DataError, match=r"integer row indices in \[0, 3\)"):
        m.fit(df, None, CTX)


def test_all_errors_are_medalist_errors():
    assert issubclass(DataError, MedalistError) and issubclass(ConfigError, MedalistError)
