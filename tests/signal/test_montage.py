"""The HMS double-banana montage front-end: exact channel differences of named 10-20 electrodes."""

from __future__ import annotations

import pytest
import torch

from medalist.core.errors import ConfigError
from medalist.signal.config import Branch, SignalParams
from medalist.signal.frontends import get_frontend
from medalist.signal.montage import BANANA, BipolarMontage, canonical_electrode

# HMS eeg parquet column order (EKG last, not used by the montage)
HMS = ["Fp1", "F3", "C3", "P3", "F7", "T3", "T5", "O1", "Fz", "Cz", "Pz", "Fp2", "F4", "C4", "P4", "F8", "T4", "T6", "O2", "EKG"]


def test_banana_is_18_exact_differences_in_chain_order():
    x = torch.tensor([[[float(2 ** i)] for i in range(20)]])  # channel i holds 2**i: every difference unique
    fe = get_frontend("banana")
    assert (fe.image, fe.net) == (False, "cnn1d")
    out = fe.make(Branch(name="eeg", input="banana", electrodes=HMS), 200.0)(x)
    v = {n: 2.0 ** i for i, n in enumerate(HMS)}
    expected = [v["Fp1"] - v["F7"], v["F7"] - v["T3"], v["T3"] - v["T5"], v["T5"] - v["O1"],
                v["Fp1"] - v["F3"], v["F3"] - v["C3"], v["C3"] - v["P3"], v["P3"] - v["O1"],
                v["Fp2"] - v["F4"], v["F4"] - v["C4"], v["C4"] - v["P4"], v["P4"] - v["O2"],
                v["Fp2"] - v["F8"], v["F8"] - v["T4"], v["T4"] - v["T6"], v["T6"] - v["O2"],
                v["Fz"] - v["Cz"], v["Cz"] - v["Pz"]]
    assert out.shape == (1, 18, 1)
    assert out.flatten().tolist() == expected
    assert len(BANANA) == 18


def test_channel_order_is_read_from_the_names_and_10_10_aliases_work():
    names = ["o2", "T8", "P8", "F8", "fp2", "P4", "C4", "F4", "pz", "CZ", "Fz", "O1", "P7", "T7", "F7", "P3", "C3", "F3", "FP1"]
    x = torch.randn(3, 19, 50, generator=torch.Generator().manual_seed(0))
    ref = BipolarMontage(HMS[:19])(x[:, [names.index(n) for n in
                                       ["FP1", "F3", "C3", "P3", "F7", "T7", "P7", "O1", "Fz", "CZ", "pz", "fp2", "F4", "C4", "P4", "F8", "T8", "P8", "o2"]]])
    assert torch.equal(BipolarMontage(names)(x), ref)
    assert [canonical_electrode(n) for n in ("FP1", "t8", "P7", "FZ")] == ["Fp1", "T4", "T5", "Fz"]


def test_missing_electrode_or_names_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match="no channel named O2"):
        BipolarMontage(HMS[:18])
    with pytest.raises(ConfigError, match="19 input channels"):
        BipolarMontage(HMS[:19])(torch.zeros(1, 20, 8))
    with pytest.raises(ConfigError, match="electrodes"):
        SignalParams.parse({"signals": {"columns": ["x"]}, "sample_rate": 200, "branches": [{"name": "e", "input": "banana"}]})


def test_signal_net_with_a_banana_branch_runs_on_19_channels():
    from medalist.signal.net import build_signal_net

    p = SignalParams.parse({"signals": {"columns": HMS}, "sample_rate": 200,
                            "branches": [{"name": "e", "input": "banana", "electrodes": HMS, "hidden": 8, "layers": 2}]})
    net = build_signal_net(p, chans=20, length=400, n_out=6)
    logits, branch = net(torch.randn(2, 20, 400))
    assert logits.shape == (2, 6) and branch[0].shape == (2, 6)
