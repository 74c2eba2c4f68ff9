"""Box tables: bad input named by file and row (outside the image, width <= 0, unknown image id),
mAP by torchmetrics/pycocotools on hand-made cases, WBF of box tables (library and
``medalist postprocess wbf``)."""

from __future__ import annotations

import importlib.util
import json

import polars as pl
import pytest

from medalist.core.errors import DataError

for _pkg in ("torch", "torchmetrics", "pycocotools", "ensemble_boxes"):
    if importlib.util.find_spec(_pkg) is None:
        pytest.skip(f"{_pkg} not installed: pip install 'medalist[vision,recsys]'", allow_module_level=True)

TRUTH = pl.DataFrame({"image_id": ["a", "a", "b"], "x": [2.0, 30.0, 10.0], "y": [2.0, 30.0, 10.0],
                      "w": [10.0, 20.0, 12.0], "h": [8.0, 20.0, 12.0], "label": [0, 1, 0]})


def test_bad_boxes_name_the_file_and_row():
    from medalist.vision.detection_boxes import check_boxes

    outside = TRUTH.with_columns(pl.when(pl.col("x") == 30).then(55.0).otherwise(pl.col("x")).alias("x"))
    with pytest.raises(DataError, match=r"train_boxes.csv: row 2 \(image_id a\).*inside the 64x64 image.*x=55"):
        check_boxes(outside, size=(64, 64), source="train_boxes.csv")
    with pytest.raises(DataError, match=r"train_boxes.csv: row 3 \(image_id b\).*positive width.*w=-1"):
        check_boxes(TRUTH.with_columns(pl.when(pl.col("image_id") == "b").then(-1.0).otherwise(pl.col("w")).alias("w")),
                    source="train_boxes.csv")
    with pytest.raises(DataError, match=r"train_boxes.csv: row 3.*unknown image_id 'b'"):
        check_boxes(TRUTH, ids=["a"], source="train_boxes.csv")
    with pytest.raises(DataError, match=r"train_boxes.csv.*no label"):
        check_boxes(TRUTH.drop("label"), source="train_boxes.csv")


def test_mean_ap_on_known_cases():
    from medalist.vision.detection_boxes import centre_baseline, mean_ap

    perfect = TRUTH.with_columns(score=pl.lit(0.9))
    assert mean_ap(perfect, TRUTH)["map"] == pytest.approx(1.0)
    wrong_label = perfect.with_columns(label=1 - pl.col("label"))
    assert mean_ap(wrong_label, TRUTH)["map"] < 0.01
    shifted = perfect.with_columns(x=pl.col("x") + 3)  # IoU 0.54-0.77: counted at 0.5, not at 0.95
    m = mean_ap(shifted, TRUTH)
    assert m["map_50"] == pytest.approx(1.0) and m["map"] < 0.6
    assert mean_ap(centre_baseline(TRUTH, ["a", "b"], size=(64, 64)), TRUTH)["map"] < 0.2


def test_wbf_fuses_agreeing_tables_and_the_command_writes_them(tmp_path):
    from typer.testing import CliRunner

    from medalist.cli.app import app
    from medalist.vision.detection_boxes import fuse_boxes

    a = TRUTH.with_columns(score=pl.lit(0.9))
    b = TRUTH.with_columns(x=pl.col("x") + 1, score=pl.lit(0.6))
    fused = fuse_boxes([a, b], size=(64, 64))
    assert fused.height == 3 and fused.filter(pl.col("image_id") == "b")["x"][0] == pytest.approx(10.4)
    a.write_csv(tmp_path / "a.csv")
    b.write_parquet(tmp_path / "b.parquet")
    out = tmp_path / "fused.csv"
    args = ["postprocess", "wbf", str(tmp_path / "a.csv"), str(tmp_path / "b.parquet"), "--out", str(out), "--width", "64", "--height", "64"]
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.strip().splitlines()[-1])["boxes_out"] == 3 == pl.read_csv(out).height
    res = CliRunner().invoke(app, [*args[:-4], "--width", "32", "--height", "32"])
    assert res.exit_code != 0 and "a.csv" in str(res.exception) + res.output and "inside the 32x32 image" in str(res.exception) + res.output
