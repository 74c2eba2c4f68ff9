"""A SIIM-pneumothorax-shaped local competition end to end: DICOM files written with pydicom from
Fashion-MNIST garments (tops are the finding, other garments distractors, ~40% empty masks), a
segmenter and a classifier through the CV runner, gating + (threshold, min area) search on OOF,
``postprocess gate-masks``, and ``submit --local`` scoring the RLE submission by per-image dice."""

from __future__ import annotations

import importlib.util
import json
import os

import pytest

from medalist.datasets.fashion import FASHION_DIR

for _pkg in ("torch", "timm", "lightning", "albumentations", "segmentation_models_pytorch", "pydicom"):
    if importlib.util.find_spec(_pkg) is None:
        pytest.skip(f"{_pkg} not installed: pip install 'medalist[vision]'", allow_module_level=True)
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file(),
                                                   reason="Fashion-MNIST missing: apt-get install -y dataset-fashion-mnist")]


def test_gated_beats_ungated_on_oof_and_private(tmp_path):
    import torch
    from typer.testing import CliRunner

    from medalist.cli.app import app
    from medalist.cv.runner import train
    from medalist.datasets.garments import make_pneumothorax_workspace
    from medalist.kaggle.submit import submit
    from medalist.vision.gating import gate_run
    from medalist.workspace.paths import Workspace

    root = tmp_path / "pneumo"
    ws = make_pneumothorax_workspace(root, n_train=240, n_test=120)
    assert (root / "data" / "dicom").is_dir() and ws.competition.metric == "auc"
    cwd, threads = os.getcwd(), torch.get_num_threads()
    os.chdir(root)
    torch.set_num_threads(2)
    try:
        from medalist.vision.sanity import overfit_one_batch

        sane = overfit_one_batch(Workspace.open(root), root / "configs" / "seg.yaml", steps=30)  # `medalist sanity`
        assert sane["ratio"] < 0.5 and sane["rows"] == 16, sane
        seg = train(Workspace.open(root), root / "configs" / "seg.yaml", tracking=False)
        cls = train(Workspace.open(root), root / "configs" / "cls.yaml", tracking=False)
        assert (seg.id, cls.id) == ("seg-001", "cls-001")
        # the segmenter's OOF column is its non-empty score; measured AUC 0.91 (seg), 0.95 (cls)
        assert seg.metrics["oof"] > 0.8 and cls.metrics["oof"] > 0.85, (seg.metrics["oof"], cls.metrics["oof"])
        res = CliRunner().invoke(app, ["postprocess", "gate-masks", "configs/gate.yaml", "--json"])
        assert res.exit_code == 0, res.output
        out = json.loads(res.output)
        # measured: nested OOF dice 0.815 gated vs 0.647 ungated, all-empty 0.433 (margins 0.05 / 0.2)
        assert out["dice_nested_gated"] > out["dice_nested_ungated"] + 0.05, out
        assert out["dice_nested_gated"] > out["all_empty_dice"] + 0.2, out
        gated = submit(Workspace.open(root), file=root / out["file"], local=True)
        plain = gate_run(Workspace.open(root), {"segmenter": seg.id, "out": "submissions/ungated.csv"})
        ungated = submit(Workspace.open(root), file=root / plain["file"], local=True)
        # measured: private dice 0.844 gated vs 0.702 ungated (margin 0.05)
        assert gated.private > ungated.private + 0.05, (gated.private, ungated.private)
        assert gated.record["metric"] == "dice"
        from medalist.report.masks import masks_section
        from medalist.report.plots import Figs

        html = masks_section(Workspace.open(root), seg, Figs())  # the report's worst OOF masks, drawn over the images
        assert "worst-masks" in html and "<svg" in html
        assert masks_section(Workspace.open(root), cls, Figs()) == ""
    finally:
        torch.set_num_threads(threads)
        os.chdir(cwd)
