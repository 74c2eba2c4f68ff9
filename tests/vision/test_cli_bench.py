"""`medalist sanity` through the CLI, and the GPU throughput benchmark's CPU smoke setting."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import load_benchmark, run_medalist
from tests.vision.conftest import needs_fashion


def cli(monkeypatch, capsys, *args):
    return run_medalist(monkeypatch, capsys, *args)


@needs_fashion
def test_sanity_overfits_one_batch_and_fails_loudly_when_it_cannot(fashion_ws, monkeypatch, capsys):
    code, out, err = cli(monkeypatch, capsys, "sanity", "configs/img.yaml", "--steps", "25")
    assert code == 0, err
    assert "ok: loss on one batch of 16 rows fell" in out and "step   25" in out
    # a pipeline that cannot learn (here: LR 0) is reported as broken, exit 2, no traceback
    code, out, err = cli(monkeypatch, capsys, "sanity", "configs/img.yaml", "model.params.lr=0", "model.params.head_lr=0",
                         "--steps", "5")
    assert code == 2 and "sanity check of configs/img.yaml" in err and "pipeline is broken" in err
    Path("configs/gbm.yaml").write_text("model: {name: lightgbm}\ncolumns: {keep: [is_top]}\n")
    code, out, err = cli(monkeypatch, capsys, "sanity", "configs/gbm.yaml")
    assert code == 2 and "an image model (timm_image)" in err


@needs_fashion
def test_sanity_one_image(fashion_ws):
    from medalist.vision.sanity import overfit_one_batch

    res = overfit_one_batch(fashion_ws, Path("configs/img.yaml"), steps=15, batch_size=1)
    assert res["rows"] == 1 and res["last"] < 0.5 * res["first"]


def test_throughput_benchmark_smoke():
    mod = load_benchmark("vision_throughput")
    res = mod.main(["--smoke", "--json"])
    assert [(r["model"], r["mode"]) for r in res["rows"]] == [("resnet10t", "eager")]
    r = res["rows"][0]
    assert r["raw_img_s"] > 0 and r["medalist_img_s"] > 0 and r["ratio"] == pytest.approx(r["medalist_img_s"] / r["raw_img_s"], rel=0.01)
    assert res["jpeg_img_s"] > 0
    if importlib.util.find_spec("segmentation_models_pytorch") is not None:
        assert res["segmentation"]["model"] == "Unet tu-resnet10t" and res["segmentation"]["img_s"] > 0
