"""DDP inside the CV loop on CPU (gloo, 2 ranks): each fold's fit is its own DDP job (medalist.vision.ddp)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.vision.conftest import needs_fashion

pytestmark = needs_fashion

DDP_CONFIG = """\
model:
  name: timm_image
  params:
    backbone: test_efficientnet
    lr: 0.01
    in_chans: 1
    img_size: 32
    epochs: 2
    batch_size: 32
    select: best
    images: {pattern: "{id}.png", dirs: [data/images]}
columns: {keep: [is_top]}
threads: 1
seeds: [42]
"""


@pytest.mark.slow  # ~60 s: a single-process and a 2-rank run of 3 folds
def test_ddp_inside_cv_covers_every_row_once_and_matches_single_process(fashion_ws):
    from medalist.cv.runner import train

    (fashion_ws.root / "configs" / "ddp.yaml").write_text(DDP_CONFIG)
    cfg = Path("configs/ddp.yaml")
    single = train(fashion_ws, cfg, ["model.params.accelerator=cpu", "model.params.devices=1"], tracking=False)
    ddp = train(fashion_ws, cfg, ["model.params.accelerator=cpu", "model.params.devices=2", "model.params.strategy=ddp"],
                tracking=False)
    assert ddp.record.status == "done"
    assert len(list(fashion_ws.runs_dir.iterdir())) == 2  # one run folder each: ranks never ran the CV loop
    oof, train_ids = ddp.oof(), fashion_ws.train_path
    import polars as pl

    ids = pl.read_csv(train_ids).get_column("id")
    assert oof.get_column("id").to_list() == ids.to_list()  # every training row once
    assert oof.get_column("fold").min() >= 0
    preds = oof.select(pl.exclude("id", "fold")).to_numpy()
    assert np.isfinite(preds).all()
    sel = [f["selection"][0] for f in ddp.metrics["folds"]]
    assert all(s["validated_epochs"] == 2 for s in sel)  # rank 0 handed back the epoch selection
    curves = pl.read_parquet(ddp.path / "curves.parquet")
    assert {"valid_target_loss", "train_loss", "valid_accuracy"} <= set(curves.get_column("name").to_list())
    a, b = single.metrics["oof"], ddp.metrics["oof"]
    print(f"OOF {single.metrics['metric']}: single {a:.4f}, ddp {b:.4f}")
    # measured 0.7828 single vs 0.7650 DDP (2 ranks x batch 32 = batch 64 per step, half the steps);
    # 10 classes, chance 0.1: a margin of 0.06 below the DDP figure and 0.06 between the two
    assert b > 0.70 and abs(a - b) < 0.06
