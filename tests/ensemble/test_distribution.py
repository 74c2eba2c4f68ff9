"""Distribution targets (vote fractions, metric kl) in blends and stacks, on HMS-shaped synthetic members."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from medalist.ensemble.blend import blend_members
from medalist.ensemble.meta import as_proba, meta_inputs
from medalist.ensemble.metastate import SavedMeta
from medalist.ensemble.stack import select_members, stack_members

from .synthetic import distribution_members


@pytest.fixture(scope="module")
def dist():
    return distribution_members(n=900, n_test=100, k=3)


def _kl(m, pred):
    ok = m.valid & ~np.isnan(pred).any(axis=1)
    return m.metric(m.y[ok], pred[ok])


def test_members_are_what_the_stack_is_measured_against(dist):
    kls = [_kl(dist, p) for p in dist.oof]
    assert dist.y.sum(axis=1) == pytest.approx(np.ones(900)) and dist.y.shape == (900, 6)
    assert min(kls) == pytest.approx(0.4736, abs=0.005)


@pytest.mark.parametrize("method, most", [("weighted", 0.385), ("hill-climb", 0.385)])  # measured 0.374 both
def test_blend_fits_weights_on_kl_and_stays_a_distribution(dist, method, most):
    res = blend_members(dist, method)
    best = min(_kl(dist, p) for p in dist.oof)
    assert res.nested < most < best  # nested KL of the weighted mean of the distributions
    assert res.fold_weights and len(res.fold_weights) == 3
    np.testing.assert_allclose(res.test.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.nansum(res.oof, axis=1), 1.0, atol=1e-12)


# nested KL measured on this set: logistic 0.374, ridge 0.404, lightgbm 0.399, conv1x3 0.361; best member 0.474
@pytest.mark.parametrize("meta, most", [("logistic", 0.385), ("ridge", 0.415), ("lightgbm", 0.41), ("conv1x3", 0.375)])
def test_every_meta_model_trains_on_kl_and_beats_the_best_member(dist, meta, most):
    if meta == "conv1x3" and importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    res = stack_members(dist, meta)
    best = min(_kl(dist, p) for p in dist.oof)
    got = _kl(dist, res.oof)
    assert got < most < best, (meta, got, best)
    np.testing.assert_allclose(res.test.sum(axis=1), 1.0, atol=1e-9)
    # the saved state is plain JSON and re-applies to the same test predictions exactly
    T = meta_inputs(dist.test, "distribution")
    again = np.zeros_like(res.test)
    for state, texts in res.states:
        st = json.loads(json.dumps(state))
        again += as_proba("distribution", SavedMeta(st, dict(texts), task="distribution", width=6).predict(T), 6) / len(res.states)
    np.testing.assert_array_equal(again, res.test)


def test_nested_selection_on_a_distribution(dist):
    pytest.importorskip("optuna")
    sel = select_members(dist, "logistic", n_trials=3)
    best = min(_kl(dist, p) for p in dist.oof)
    assert sel.nested < 0.40 < best and sel.in_sample <= sel.nested + 1e-9  # the in-sample best is the optimistic one
    assert sorted(sel.per_fold) == [0, 1, 2] and "C" in sel.params
