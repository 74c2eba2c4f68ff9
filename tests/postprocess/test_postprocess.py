"""Post-processing against hand-computed cases and the libraries' own results; OOF scores move the right way."""

from __future__ import annotations

import itertools
import json
import sys

import numpy as np
import polars as pl
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import f1_score, log_loss, roc_auc_score

from medalist.core.errors import ConfigError, DataError
from medalist.postprocess.assign import assign, box_iou, match_boxes
from medalist.postprocess.boxes import soft_nms, weighted_boxes_fusion
from medalist.postprocess.smoothing import smooth_temporal
from medalist.postprocess.thresholds import dice_score, gate_masks, search_threshold
from tests.conftest import run_medalist


# ------------------------------------------------------------------ Hungarian assignment
def test_assign_hand_computed():
    a = assign([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
    assert list(zip(a.rows, a.cols)) == [(0, 1), (1, 0), (2, 2)] and a.total == 5.0
    m = assign([[4, 1, 3], [2, 0, 5], [3, 2, 2]], maximize=True)
    assert m.total == 11.0  # 4 + 5 + 2


@pytest.mark.parametrize("shape", [(5, 5), (4, 7), (7, 3)])
def test_assign_matches_scipy(shape):
    rng = np.random.default_rng(sum(shape))
    for _ in range(20):
        c = rng.uniform(0, 10, shape)
        r, k = linear_sum_assignment(c)
        a = assign(c)
        assert a.total == pytest.approx(c[r, k].sum()) and len(a) == min(shape)


def _brute(c: np.ndarray, forbidden: np.ndarray) -> tuple[int, float]:
    """Best (most allowed matches, then least cost) over every permutation of a square matrix."""
    best = (-1, np.inf)
    for perm in itertools.permutations(range(c.shape[1])):
        pairs = [(i, j) for i, j in enumerate(perm) if not forbidden[i, j]]
        cand = (len(pairs), sum(c[i, j] for i, j in pairs))
        if cand[0] > best[0] or (cand[0] == best[0] and cand[1] < best[1] - 1e-12):
            best = cand
    return best


def test_assign_max_cost_cutoff_matches_brute_force():
    rng = np.random.default_rng(7)
    for _ in range(30):
        c = rng.uniform(0, 10, (5, 5))
        a = assign(c, max_cost=4.0)
        n, cost = _brute(c, c > 4.0)
        assert len(a) == n and a.total == pytest.approx(cost)
        assert (a.costs <= 4.0).all()


def test_assign_nan_and_inf():
    c = [[1.0, np.nan], [np.nan, 2.0]]
    with pytest.raises(DataError, match=r"2 NaN \(first at row 0, column 1\).*nan='forbid'"):
        assign(c)
    a = assign(c, nan="forbid")
    assert list(zip(a.rows, a.cols)) == [(0, 0), (1, 1)]
    # a forbidden (NaN or inf) pair is dropped rather than forced: only one row can be matched
    a = assign([[1.0, np.inf], [5.0, np.nan]], nan="forbid")
    assert list(zip(a.rows, a.cols)) == [(0, 0)]
    assert len(assign([[np.nan, np.nan]], nan="forbid")) == 0
    assert len(assign(np.zeros((0, 3)))) == 0
    with pytest.raises(DataError, match="2-D"):
        assign([1.0, 2.0])
    with pytest.raises(DataError, match="-inf"):
        assign([[-np.inf, 1.0]])
    with pytest.raises(ConfigError, match="did you mean 'forbid'"):
        assign([[1.0]], nan="forbd")


def test_iou_and_box_matching_hand_computed():
    assert box_iou([[0, 0, 2, 2]], [[1, 1, 3, 3]])[0, 0] == pytest.approx(1 / 7)
    helmets = [[0, 0, 10, 10], [20, 0, 30, 10], [50, 50, 60, 60]]
    labels = [[21, 0, 31, 10], [1, 0, 11, 10]]  # swapped order; the third helmet has no label
    m = match_boxes(helmets, labels, min_iou=0.5)
    assert dict(zip(m.rows.tolist(), m.cols.tolist())) == {0: 1, 1: 0}
    assert m.costs == pytest.approx([9 / 11, 9 / 11])
    with pytest.raises(DataError, match="x2 >= x1"):
        box_iou([[2, 0, 1, 1]], [[0, 0, 1, 1]])


# ------------------------------------------------------------------ detection ensembles
def test_wbf_hand_computed_and_equal_to_library():
    eb = pytest.importorskip("ensemble_boxes")
    boxes = [[[0.10, 0.10, 0.50, 0.50]], [[0.12, 0.10, 0.52, 0.50], [0.7, 0.7, 0.9, 0.9]]]
    scores = [[0.9], [0.6, 0.3]]
    labels = [[0], [0, 0]]
    b, s, lab = weighted_boxes_fusion(boxes, scores, labels, iou_thr=0.55)
    # fused box: score-weighted mean of the two overlapping boxes; score: mean score x (2 boxes / 2 models)
    want = (0.9 * np.array([0.10, 0.10, 0.50, 0.50]) + 0.6 * np.array([0.12, 0.10, 0.52, 0.50])) / 1.5
    assert b[0] == pytest.approx(want) and s[0] == pytest.approx(0.75)
    # the lone box of one model of two: its score is halved
    assert b[1] == pytest.approx([0.7, 0.7, 0.9, 0.9]) and s[1] == pytest.approx(0.15)
    rb, rs, rl = eb.weighted_boxes_fusion(boxes, scores, labels, iou_thr=0.55)
    np.testing.assert_allclose(b, rb)
    np.testing.assert_allclose(s, rs)


def test_wbf_input_errors():
    pytest.importorskip("ensemble_boxes")
    with pytest.raises(DataError, match=r"normalised to \[0, 1\]"):
        weighted_boxes_fusion([[[0, 0, 20, 20]]], [[0.5]], [[0]])
    with pytest.raises(DataError, match="one boxes/scores/labels list per model"):
        weighted_boxes_fusion([[[0, 0, 0.2, 0.2]]], [[0.5], [0.2]], [[0]])
    with pytest.raises(DataError, match="as many scores"):
        weighted_boxes_fusion([[[0, 0, 0.2, 0.2]]], [[0.5, 0.4]], [[0]])


def test_soft_nms_hand_computed():
    boxes = [[0, 0, 1, 1], [0, 0, 1, 0.5], [2, 2, 3, 3]]  # IoU(0, 1) = 0.5
    keep, s = soft_nms(boxes, [0.9, 0.8, 0.7], method="gaussian", sigma=0.5)
    assert keep.tolist() == [0, 2, 1] and s == pytest.approx([0.9, 0.7, 0.8 * np.exp(-0.25 / 0.5)])
    keep, s = soft_nms(boxes, [0.9, 0.8, 0.7], method="linear", iou_thr=0.3)
    assert s.tolist() == pytest.approx([0.9, 0.7, 0.4])
    keep, _ = soft_nms(boxes, [0.9, 0.8, 0.7], labels=[0, 1, 0], method="hard", iou_thr=0.3)
    assert sorted(keep.tolist()) == [0, 1, 2]  # other label: not suppressed


@pytest.mark.parametrize("method,code", [("gaussian", 2), ("linear", 1),
                                         pytest.param("hard", 3, marks=pytest.mark.slow)])  # numba JIT: ~10 s
def test_soft_nms_matches_ensemble_boxes(method, code):
    eb = pytest.importorskip("ensemble_boxes")
    rng = np.random.default_rng(code)
    xy = rng.uniform(0, 0.6, (40, 2))
    wh = rng.uniform(0.1, 0.4, (40, 2))
    boxes = np.c_[xy, xy + wh]
    scores = rng.uniform(0.05, 1.0, 40)
    keep, _ = soft_nms(boxes, scores, method=method, iou_thr=0.4, sigma=0.5, score_thr=0.05)
    rb, rs, _ = eb.soft_nms([boxes.tolist()], [scores.tolist()], [[0] * 40], method=code, iou_thr=0.4, sigma=0.5, thresh=0.05) \
        if code != 3 else eb.nms([boxes.tolist()], [scores.tolist()], [[0] * 40], iou_thr=0.4)
    # the library returns kept boxes with their *original* scores: compare those sets
    mine = {tuple(np.round(boxes[i], 6)) + (round(scores[i], 6),) for i in keep}
    theirs = {tuple(np.round(b, 6)) + (round(s, 6),) for b, s in zip(rb, rs)}
    assert mine == theirs and len(mine) < 40


# ------------------------------------------------------------------ temporal smoothing
def test_smoothing_hand_computed_and_per_video():
    df = pl.DataFrame({"video": [1, 1, 1, 1, 2, 2], "frame": [3, 1, 2, 4, 1, 2], "p": [1.0, 0.0, 0.0, 0.0, 9.0, 9.0]})
    out = smooth_temporal(df, "p", by="video", order="frame", window=3)
    # video 1 in frame order: [0, 0, 1, 0] -> [0, 1/3, 1/3, 1/2]; rows come back in input order
    assert out["p"].to_list() == pytest.approx([1 / 3, 0.0, 1 / 3, 0.5, 9.0, 9.0])
    trail = smooth_temporal(df, "p", by="video", order="frame", window=2, center=False)
    assert trail["p"].to_list() == pytest.approx([0.5, 0.0, 0.0, 0.5, 9.0, 9.0])
    mx = smooth_temporal(df, ["p"], by="video", order="frame", window=3, method="max")
    assert mx["p"].to_list() == [1.0, 0.0, 1.0, 1.0, 9.0, 9.0]


def test_smoothing_improves_noisy_frame_predictions():
    rng = np.random.default_rng(0)
    rows = []
    for v in range(20):
        y = (np.arange(200) // 25 + v) % 2  # events last 25 frames
        p = np.clip(0.5 + 0.25 * (2 * y - 1) + rng.normal(0, 0.3, 200), 0.01, 0.99)
        rows.append(pl.DataFrame({"video": v, "frame": np.arange(200), "y": y, "p": p}))
    df = pl.concat(rows).sample(fraction=1.0, shuffle=True, seed=1)
    sm = smooth_temporal(df, "p", by="video", order="frame", window=9)
    assert roc_auc_score(sm["y"], sm["p"]) > roc_auc_score(df["y"], df["p"]) + 0.05
    assert log_loss(sm["y"], sm["p"]) < log_loss(df["y"], df["p"])
    assert (sm["y"] == df["y"]).all()  # labels still aligned: row order kept


def test_smoothing_errors():
    df = pl.DataFrame({"video": [1, 1], "frame": [1, 1], "p": [0.1, 0.2]})
    with pytest.raises(DataError, match="duplicate frames"):
        smooth_temporal(df, "p", by="video", order="frame", window=3)
    with pytest.raises(ConfigError, match="odd when centred"):
        smooth_temporal(df, "p", by="video", order="frame", window=4)
    with pytest.raises(DataError, match="did you mean 'frame'"):
        smooth_temporal(df, "p", by="video", order="frames")


# ------------------------------------------------------------------ thresholds and gating
def test_threshold_hand_computed():
    r = search_threshold([0, 1, 0, 1, 1], [0.1, 0.35, 0.4, 0.45, 0.9], grid=[0.3, 0.4, 0.5])
    # at 0.3: TP 3, FP 1 -> F1 6/7; at 0.4: TP 2, FP 1, FN 1 -> 2/3; at 0.5: TP 1 -> 1/2
    assert r.threshold == 0.3 and r.score == pytest.approx(6 / 7) and r.default_score == pytest.approx(0.5)
    assert r.curve["score"].to_list() == pytest.approx([6 / 7, 2 / 3, 0.5])


def test_threshold_search_raises_f1_on_imbalanced_oof():
    rng = np.random.default_rng(3)
    y = (rng.uniform(size=4000) < 0.08).astype(int)
    p = 1 / (1 + np.exp(-(-3.0 + 2.2 * y + rng.normal(0, 1.0, y.size))))  # calibrated-ish, rarely above 0.5
    r = search_threshold(y, p, "f1")
    assert r.threshold < 0.5 and r.score > r.default_score + 0.1
    assert r.score == pytest.approx(f1_score(y, (p >= r.threshold).astype(int)))


def test_threshold_metric_errors():
    with pytest.raises(ConfigError, match="thresholds cannot change it"):
        search_threshold([0, 1], [0.2, 0.8], "auc")
    with pytest.raises(DataError, match="NaN"):
        search_threshold([0, 1], [np.nan, 0.8])


def _masks(rng, n=60, size=16):
    """Half the images have a lesion (a square); the segmenter also paints speckles on empty ones."""
    truth = np.zeros((n, size, size), int)
    prob = rng.uniform(0, 0.35, (n, size, size))
    has = np.arange(n) % 2 == 0
    for i in np.flatnonzero(has):
        truth[i, 4:10, 4:10] = 1
        prob[i, 4:10, 4:10] = rng.uniform(0.3, 1.0, (6, 6))
    for i in np.flatnonzero(~has):
        prob[i, rng.integers(0, size, 3), rng.integers(0, size, 3)] = 0.97  # confident: no threshold removes them
    cls = np.where(has, rng.uniform(0.6, 1.0, n), rng.uniform(0.0, 0.4, n))
    return truth, prob, cls


def test_dice_threshold_and_classifier_gate_raise_the_oof_score():
    truth, prob, cls = _masks(np.random.default_rng(5))
    assert dice_score([[0, 0]], [[0, 0]]) == 1.0 and dice_score([[0, 0]], [[0, 1]]) == 0.0
    r = search_threshold(truth, prob, "dice")
    raw = dice_score(truth, prob >= 0.5)
    assert r.score >= raw and r.score == pytest.approx(dice_score(truth, prob >= r.threshold))
    # without a gate the best threshold must also erase the confident speckles, and lesions with them;
    # with the classifier gate in the loop a lower threshold keeps the lesions
    gated = search_threshold(truth, prob, lambda t, lab: dice_score(t, gate_masks(lab, cls, threshold=0.5)))
    assert gated.threshold < r.threshold and gated.score > r.score + 0.2
    hard = (prob >= gated.threshold).astype(int)
    g = gate_masks(hard, cls, threshold=0.5)
    assert (g[1::2] == 0).all() and (g[::2] == hard[::2]).all()
    tiny = gate_masks(hard, np.ones(len(hard)), min_area=10)
    assert (tiny.reshape(len(tiny), -1).sum(axis=1)[1::2] == 0).all()  # 3 speckles < 10 pixels
    with pytest.raises(DataError, match="one probability per mask"):
        gate_masks(hard, cls[:-1])


# ------------------------------------------------------------------ CLI hooks
def _cli(monkeypatch, capsys, *args):
    return run_medalist(monkeypatch, capsys, *args)


def test_cli_threshold_and_smooth(tmp_path, monkeypatch, capsys):
    pl.DataFrame({"y": [0, 1, 0, 1, 1], "pred": [0.1, 0.35, 0.4, 0.45, 0.9]}).write_csv(tmp_path / "oof.csv")
    code, out, _ = _cli(monkeypatch, capsys, "postprocess", "threshold", str(tmp_path / "oof.csv"), "--target", "y", "--json")
    assert code == 0 and json.loads(out)["score"] == pytest.approx(6 / 7)
    code, _, err = _cli(monkeypatch, capsys, "postprocess", "threshold", str(tmp_path / "oof.csv"), "--target", "label")
    assert code == 2 and "column 'label'" in err
    pl.DataFrame({"v": [1, 1, 1], "f": [1, 2, 3], "p": [0.0, 3.0, 0.0]}).write_csv(tmp_path / "frames.csv")
    code, _, _ = _cli(monkeypatch, capsys, "postprocess", "smooth", str(tmp_path / "frames.csv"), "--by", "v", "--order", "f",
                      "--col", "p", "--window", "3", "--out", str(tmp_path / "s.parquet"))
    assert code == 0 and pl.read_parquet(tmp_path / "s.parquet")["p"].to_list() == pytest.approx([1.5, 1.0, 1.5])


@pytest.mark.slow  # trains a LightGBM run first
def test_cli_threshold_on_a_run(covid_ws, monkeypatch, capsys):
    from pathlib import Path

    from medalist.cv.runner import train

    run = train(covid_ws, Path("configs/fast.yaml"))
    code, out, err = _cli(monkeypatch, capsys, "postprocess", "threshold", run.id, "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["score"] >= res["score_at_0.5"] and 0 < res["threshold"] < 1


def test_wbf_without_ensemble_boxes_names_the_extra(monkeypatch):
    from medalist.core.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "ensemble_boxes", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'medalist\[recsys\]'"):
        weighted_boxes_fusion([[[0, 0, 0.2, 0.2]]], [[0.5]], [[0]])
