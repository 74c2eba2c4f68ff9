"""A detection local competition end to end: real Fashion-MNIST garments pasted at known boxes on
synthetic 64x64 PNG canvases, `model: detection` runs of FCOS and Faster R-CNN through the CV runner
on the shared folds, their OOF boxes gathered from the fold models, fused by WBF, scored by mAP."""

from __future__ import annotations

import importlib.util
import os

import pytest

from medalist.datasets.fashion import FASHION_DIR

for _pkg in ("torch", "torchvision", "torchmetrics", "pycocotools", "ensemble_boxes"):
    if importlib.util.find_spec(_pkg) is None:
        pytest.skip(f"{_pkg} not installed: pip install 'medalist[vision,recsys]'", allow_module_level=True)
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file(),
                                                   reason="Fashion-MNIST missing: apt-get install -y dataset-fashion-mnist")]


def test_two_detector_runs_fused_by_wbf_beat_each(tmp_path):
    import polars as pl
    import torch

    from medalist.cv.runner import train
    from medalist.datasets.fashion_boxes import make_detection_workspace
    from medalist.vision.detection_boxes import centre_baseline, fuse_boxes, mean_ap
    from medalist.vision.detection_model import run_boxes
    from medalist.workspace.paths import Workspace

    root = tmp_path / "boxes"
    make_detection_workspace(root, n_train=200, n_test=40)
    truth = pl.read_csv(root / "data" / "train_boxes.csv")
    hidden = pl.read_parquet(root / ".medalist" / "test_boxes.parquet")
    ids = [f"img{i}" for i in range(200)]
    cwd, threads = os.getcwd(), torch.get_num_threads()
    os.chdir(root)
    torch.set_num_threads(2)
    try:
        runs = {a: train(Workspace.open(root), root / "configs" / f"{a}.yaml", tracking=False) for a in ("fcos", "fasterrcnn")}
        boxes = {a: run_boxes(r) for a, r in runs.items()}
        from medalist.report.boxes import boxes_section
        from medalist.report.plots import Figs

        html = boxes_section(Workspace.open(root), runs["fcos"], Figs())  # the report's worst OOF boxes over the images
        assert "worst-boxes" in html and "<svg" in html
    finally:
        torch.set_num_threads(threads)
        os.chdir(cwd)
    assert (root / "runs" / "fcos-001" / "oof_boxes.parquet").is_file()
    single = {a: mean_ap(b["oof"], truth, ids) for a, b in boxes.items()}
    fused = mean_ap(fuse_boxes([b["oof"].drop("fold") for b in boxes.values()], size=(64, 64)), truth, ids)
    base = mean_ap(centre_baseline(truth, ids, size=(64, 64)), truth, ids)
    aucs = {a: r.metrics["oof"] for a, r in runs.items()}
    test = {a: mean_ap(b["test"], hidden)["map"] for a, b in boxes.items()}
    print(single, fused, base, aucs, test)
    # measured (runner folds): FCOS mAP 0.158, Faster R-CNN 0.168, WBF 0.198 (margin 0.015 of the 0.03 gain);
    # centre box 0.0003; hidden test boxes (WBF of the fold models) 0.134 / 0.214. mAP@50 is not asserted:
    # there WBF (0.391) stays below Faster R-CNN alone (0.412). The OOF column (best footwear-box score) is
    # a weak has_footwear classifier at this size (AUC 0.44 FCOS, 0.64 Faster R-CNN), so it is not asserted either.
    assert fused["map"] > max(s["map"] for s in single.values()) + 0.015, (single, fused)
    assert min(s["map"] for s in single.values()) > 100 * base["map"]
    assert min(test.values()) > 0.07, test
