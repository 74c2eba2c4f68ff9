"""RLE in Kaggle's column-major convention (both directions) and the mask metrics / threshold search."""

import numpy as np
import pytest

from medalist.core.errors import DataError
from medalist.postprocess.masks import (
    dice_per_image,
    global_dice,
    iou,
    remove_small,
    search_mask_threshold,
)
from medalist.postprocess.rle import rle_decode, rle_dice, rle_encode


def test_rle_is_column_major_both_ways():
    m = np.zeros((3, 4), np.uint8)
    m[0:2, 1] = 1  # pixels 4, 5 counted down columns (1-based)
    m[2, 3] = 1  # the last pixel, 12
    assert rle_encode(m) == "4 2 12 1"
    assert rle_encode(m, order="C") == "2 1 6 1 12 1"
    np.testing.assert_array_equal(rle_decode("4 2 12 1", m.shape), m)
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = (rng.random((7, 5)) > 0.6).astype(np.uint8)
        for order in ("F", "C"):
            np.testing.assert_array_equal(rle_decode(rle_encode(x, order=order), x.shape, order=order), x)
    assert rle_encode(np.zeros((2, 2))) == "-1" and rle_decode("-1", (2, 2)).sum() == 0
    assert rle_dice(rle_encode(m), rle_encode(m)) == 1.0


def test_rle_overrunning_the_image_names_the_row():
    with pytest.raises(DataError, match=r"train.csv row 3.*runs inside the 2x2 image.*ends at pixel 7"):
        rle_decode("3 5", (2, 2), where="train.csv row 3")
    with pytest.raises(DataError, match="pairs"):
        rle_decode("1 2 3", (4, 4))


def test_mask_metrics_and_nested_search():
    t = np.zeros((3, 8, 8), bool)
    t[0, 2:5, 2:5] = True
    p = t.copy()
    p[1, 0, 0] = True  # a stray pixel on an empty image costs that image entirely
    assert dice_per_image(t, p).tolist() == [1.0, 0.0, 1.0]
    assert global_dice(t, p) == pytest.approx(18 / 19) and iou(t, p) == pytest.approx(2 / 3)
    assert remove_small(p, 2)[1].sum() == 0 and remove_small(p, 2)[0].sum() == 9
    probs = np.where(p, 0.9, 0.05)
    r = search_mask_threshold(t, probs, [0, 1, 2], thresholds=[0.5], areas=[0, 4])
    assert r.min_area == 4 and r.in_sample == 1.0 and r.default == pytest.approx(2 / 3)
    with pytest.raises(DataError, match="shape"):
        dice_per_image(t, p[:, :4])
