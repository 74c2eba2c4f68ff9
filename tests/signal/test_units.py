"""Network pieces: learned resizer, SpecAugment, signal mixup, branch shapes, save/load round trip."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from medalist.models.protocol import FitContext
from medalist.models.registry import create_model
from medalist.signal.config import SignalParams, SpecAugmentConfig
from medalist.signal.module import mix_signals
from medalist.signal.net import LearnedResizer, build_signal_net, spec_augment
from medalist.vision.config import MixConfig


def test_learned_resizer_shape_init_and_gradients():
    torch.manual_seed(0)
    r = LearnedResizer(2, (24, 40), filters=4, blocks=2).eval()
    x = torch.randn(3, 2, 17, 90)
    y = r(x)
    assert y.shape == (3, 2, 24, 40)
    plain = torch.nn.functional.interpolate(x, size=(24, 40), mode="bilinear", align_corners=False)
    assert not torch.allclose(y, plain)  # the learned path adds to the bilinear resize
    r.train()
    r(x).pow(2).mean().backward()
    grads = [p.grad for p in r.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert r.head[0].weight.grad.abs().sum() > 0


def test_spec_augment_zeroes_bands_within_alpha():
    x = torch.ones(64, 1, 40, 100)
    g = torch.Generator().manual_seed(0)
    out = spec_augment(x, SpecAugmentConfig(alpha=0.1, p=1.0), g)
    zero_rows = (out[:, 0] == 0).all(dim=2).sum(1)  # full rows zeroed per sample
    zero_cols = (out[:, 0] == 0).all(dim=1).sum(1)
    assert zero_rows.max() <= 4 and zero_cols.max() <= 10  # at most alpha × size
    assert zero_rows.sum() > 0 and zero_cols.sum() > 0
    assert len({tuple(r.tolist()) for r in (out[:, 0, :, 0] == 0)}) > 1  # masks differ per sample
    untouched = spec_augment(x, SpecAugmentConfig(alpha=0.1, p=0.0), g)
    assert torch.equal(untouched, x)


def test_mixup_and_time_cutmix_mix_targets_with_the_same_weight():
    g = torch.Generator().manual_seed(1)
    x = torch.arange(8.0)[:, None, None].expand(8, 1, 50).clone()
    y = torch.eye(8)
    (xm, ym), perm, lam = mix_signals([x, y], MixConfig(mixup_alpha=0.4), g)
    assert perm is not None and 0 <= lam <= 1
    torch.testing.assert_close(xm[:, 0, 0], lam * x[:, 0, 0] + (1 - lam) * x[perm, 0, 0])
    torch.testing.assert_close(ym.sum(1), torch.ones(8))
    (xc, yc), perm, lam = mix_signals([x, y], MixConfig(cutmix_alpha=1.0), g)
    pasted = (xc[:, 0] != x[:, 0]).float().mean(1)  # share of time steps from the partner
    moved = perm != torch.arange(8)
    torch.testing.assert_close(pasted[moved], torch.full_like(pasted[moved], 1 - lam))
    torch.testing.assert_close(yc[moved, :].max(1).values, torch.full((int(moved.sum()),), lam))


@pytest.mark.parametrize("inp,net", [("raw", "cnn1d"), ("raw", "gru"), ("stft", "timm"), ("cwt", "timm"), ("mel", "timm"),
                                     ("mfcc", "gru"), ("lfcc", "cnn1d"), ("rms", "gru"), ("rms", "cnn1d")])
def test_every_frontend_feeds_its_branch(inp, net):
    b = {"name": "b", "input": inp, "net": net, "n_fft": 32, "hop": 8, "n_mels": 16, "n_filters": 16, "n_scales": 8,
         "scale_max": 16, "backbone": "test_efficientnet", "img_size": 32, "hidden": 8, "layers": 2}
    p = SignalParams.parse({"signals": {"columns": ["x"]}, "sample_rate": 1000, "branches": [b],
                            "spec_augment": {"p": 1.0}})
    torch.manual_seed(0)
    sn = build_signal_net(p, chans=2, length=128, n_out=3).train()
    logits, branch = sn(torch.randn(4, 2, 128))
    assert logits.shape == (4, 3) and len(branch) == 1 and branch[0].shape == (4, 3)
    (logits.sum() + branch[0].sum()).backward()
    assert all(q.grad is not None for q in sn.head.parameters())


def test_provided_spectrogram_branch_save_load_and_predict(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    n = 48
    label = np.arange(n) % 2
    spec = rng.random((n, 1, 16, 20)).astype(np.float32) + label[:, None, None, None]
    np.save(tmp_path / "spec.npy", spec)
    wave = [(rng.standard_normal(100) * (1 + 2 * label[i])).tolist() for i in range(n)]
    df = pl.DataFrame({"x": pl.Series(wave, dtype=pl.List(pl.Float32)), "row": np.arange(n), "label": label})
    params = {"signals": {"columns": ["x"]}, "sample_rate": 100, "epochs": 2, "batch_size": 16, "scale": "global",
              "branches": [{"name": "w", "input": "raw", "hidden": 4, "layers": 1},
                           {"name": "given", "input": "provided", "source": {"npy": "spec.npy", "key": "row"},
                            "backbone": "test_efficientnet", "img_size": 32, "resizer": {"filters": 4}}],
              "mix": {"mixup_alpha": 0.4}, "spec_augment": {"alpha": 0.1}, "ema": {"decay": 0.9}}
    m = create_model("signal", params)
    m.fit(df, df, FitContext(task="binary", target=["label"], features=[], threads=1))
    p1 = m.predict(df)
    assert p1.shape == (n,) and np.isfinite(p1).all() and ((p1 >= 0) & (p1 <= 1)).all()
    m.save(tmp_path / "m")
    loaded = type(m).load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict(df), p1, atol=1e-5)
    hist = pl.read_csv(tmp_path / "m" / "history.csv")
    assert {"train_branch_w_loss", "train_branch_given_loss", "valid_branch_given_loss"} <= set(hist.columns)
    with pytest.raises(Exception, match="row"):
        loaded.predict(df.drop("row"))


def test_hdf5_and_npy_sources_read_the_same_rows_and_full_fit(tmp_path, monkeypatch):
    import h5py

    from medalist.signal.config import SignalSource
    from medalist.signal.data import read_signals

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(2)
    arr = rng.standard_normal((10, 2, 64)).astype(np.float32)
    np.save(tmp_path / "s.npy", arr)
    with h5py.File(tmp_path / "s.h5", "w") as fh:
        fh["eeg"] = arr
    df = pl.DataFrame({"row": [7, 2, 2, 9, 0, 5, 1, 3], "label": [0, 1, 0, 1, 0, 1, 0, 1]})
    from_npy = read_signals(SignalSource(npy="s.npy", key="row"), df, "rows")
    from_h5 = read_signals(SignalSource(hdf5="s.h5", dataset="eeg", key="row"), df, "rows")
    for a, b, r in zip(from_npy, from_h5, df["row"]):
        np.testing.assert_array_equal(a, arr[r])
        np.testing.assert_array_equal(b, arr[r])
    # a full-data fit (no validation rows) on the HDF5 source, then predictions for the same rows
    m = create_model("signal", {"signals": {"hdf5": "s.h5", "dataset": "eeg", "key": "row"}, "sample_rate": 64,
                                "epochs": 1, "batch_size": 4,
                                "branches": [{"name": "m", "input": "mfcc", "n_fft": 16, "hop": 4, "n_mels": 8, "hidden": 4}]})
    m.fit(df, None, FitContext(task="binary", target=["label"], features=[], threads=1))
    assert m.best_iteration == 1 and m.predict(df).shape == (8,)
