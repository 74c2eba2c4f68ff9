"""`model.params.tabular`: feature columns concatenated to the pooled image features, on an ISIC-shaped
competition whose metadata carries signal the images lack; without it the unused features are said."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch

from medalist.core.errors import ConfigError
from medalist.vision.config import VisionParams
from medalist.vision.net import build_net
from tests.vision.conftest import needs_fashion

TAB = ["age_approx", "clin_size_long_diam_mm", "tbp_lv_deltaLBnorm", "tbp_lv_norm_border"]


def test_tabular_values_are_concatenated_after_pooling():
    net = build_net(VisionParams(backbone="resnet10t", in_chans=1, tabular=["a", "b"]), n_out=2, aux_out=[])
    x, tab = torch.zeros(3, 1, 28, 28), torch.tensor([[0.0, 0.0], [5.0, -5.0], [-5.0, 5.0]])
    net.eval()
    logits, _ = net(x, tab=tab)
    assert logits.shape == (3, 2) and net.head.in_features == net.backbone.num_features + 32
    assert not torch.allclose(logits[0], logits[1])  # same image, other tabular values: another prediction
    with pytest.raises(ValueError, match="2 tabular values"):
        net(x)


def test_signal_models_refuse_tabular():
    from medalist.models import create_model

    with pytest.raises(ConfigError, match="tabular"):
        create_model("signal", {"signals": {"columns": ["x"]}, "sample_rate": 100, "tabular": ["a"],
                                "branches": [{"name": "w", "input": "raw"}]})


@needs_fashion
def test_tabular_columns_lift_an_isic_image_model_and_unused_ones_are_named(tmp_path, monkeypatch, caplog):
    from sklearn.metrics import roc_auc_score

    from medalist.cv.runner import train
    from medalist.datasets.isic import make_isic_workspace

    ws = make_isic_workspace(tmp_path / "isic", n_train=1200, n_test=200, seed=0)
    monkeypatch.chdir(ws.root)
    base = (ws.root / "configs" / "image.yaml").read_text().replace("epochs: 2", "epochs: 3")
    (ws.root / "configs" / "img.yaml").write_text(base)
    (ws.root / "configs" / "img_tab.yaml").write_text(base.replace("  params:\n", f"  params:\n    tabular: {TAB}\n", 1))
    with caplog.at_level("WARNING", logger="medalist"):
        plain = train(ws, ws.root / "configs" / "img.yaml", tracking=False)
    assert "NOT used by the network" in caplog.text and "clin_size_long_diam_mm" in caplog.text
    with_tab = train(ws, ws.root / "configs" / "img_tab.yaml", tracking=False)
    meta = json.loads((with_tab.path / "models" / "r0_f0_s42" / "model.json").read_text())
    assert meta["tabular"]["columns"] == TAB and not set(TAB) & set(meta["unused_features"])
    plain_meta = json.loads((plain.path / "models" / "r0_f0_s42" / "model.json").read_text())
    assert set(TAB) <= set(plain_meta["unused_features"])

    y = pl.read_csv(ws.root / "data" / "train.csv").select("isic_id", "target")

    def auc(run):
        j = run.oof().join(y, on="isic_id")
        return roc_auc_score(j["target"], j["pred"])

    a, b = auc(plain), auc(with_tab)
    # CPU image training is not bit-reproducible from run to run (seen at this commit and the one before:
    # identical runs gave plain AUC 0.897-0.918 and 0.913-0.927 with the tabular columns; pAUC gains
    # from -0.001 to +0.018 on 2026-12-02), so fixed margins on one run were inside that noise. The AUC
    # gain was +0.004 to +0.029 in seven runs: assert its sign, and that the tabular run is not worse in pAUC
    # by more than the spread seen.
    assert b > a, (a, b)
    assert with_tab.cv > plain.cv - 0.005, (plain.cv, with_tab.cv)
    t = with_tab.test()
    assert t.height == 200 and np.isfinite(t["pred"].to_numpy()).all()
