"""Time folds: a blend's weights and a stack's meta model for fold f are fitted on earlier folds only."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from medalist.ensemble.blend import blend_members
from medalist.ensemble.members import fit_mask, scored_folds
from medalist.ensemble.stack import select_members, stack_members

from .synthetic import time_members


@pytest.fixture(scope="module")
def tm():
    return time_members()


def test_fit_rows_never_come_from_a_later_fold(tm):
    assert scored_folds(tm, tm.valid) == [1, 2, 3, 4]  # fold 0 has no earlier OOF
    for meta in ("ridge", "lightgbm"):
        res = stack_members(tm, meta)
        assert [f["fold"] for f in res.fits] == [1, 2, 3, 4]
        for fit in res.fits:
            f = fit["fold"]
            assert tm.fold[fit["fit_rows"]].max() < f and tm.fold[fit["fit_rows"]].min() == 0
            assert (tm.fold[fit["pred_rows"]] == f).all()
            assert fit["fit_rows"].max() < fit["pred_rows"].min()  # the rows themselves are earlier in time
        assert np.isnan(res.oof[tm.fold == 0]).all() and not np.isnan(res.oof[tm.fold >= 1]).any()
        # test rows come after every fold: one meta model fitted on all validated rows predicts them
        assert res.time_test and res.test_state is not None
        from medalist.ensemble.metastate import SavedMeta

        np.testing.assert_array_equal(SavedMeta(*res.test_state, task="regression", width=1).predict(
            np.hstack(tm.test)), res.test)


def test_blend_weights_per_fold_use_earlier_folds_only(tm):
    res = blend_members(tm, "weighted")
    assert sorted(res.fold_weights) == [1, 2, 3, 4]
    assert np.isnan(res.oof[tm.fold == 0]).all() and not np.isnan(res.oof[tm.fold >= 1]).any()
    # fold 1's weights are exactly the weights fitted on fold 0 alone (and not on any later fold)
    from medalist.ensemble.blend import fit_weights

    rows0 = fit_mask(tm, 1, tm.valid)
    assert (tm.fold[rows0] == 0).all()
    w1 = fit_weights([p[rows0] for p in tm.oof], tm.y[rows0], tm.metric)
    np.testing.assert_allclose(res.fold_weights[1], np.round(w1, 6), atol=1e-6)
    # the drift makes the later member better: weights fitted on all folds (the old way) differ from fold 1's
    assert res.fold_weights[1][0] > res.fold_weights[4][0] + 0.1


def test_nested_selection_on_time_folds_is_time_ordered_too(tm):
    pytest.importorskip("optuna")
    sel = select_members(tm, "ridge", n_trials=3)
    assert sorted(sel.per_fold) == [1, 2, 3, 4]
    assert sel.per_fold[1]["inner_best"] is None  # only fold 0 before it: no inner CV, all members, defaults
    assert all(sel.per_fold[f]["inner_best"] is not None for f in (2, 3, 4))
    assert np.isnan(sel.oof[tm.fold == 0]).all()


@pytest.mark.slow
def test_time_folds_end_to_end(covid_ws):
    """A workspace with time folds (gap 0): load_members takes each fold's train rows from folds.parquet,
    the stack is written with the earliest fold unscored and says so."""
    from medalist.cv.runner import train
    from medalist.ensemble import blend, load_members, stack
    from medalist.workspace.folds import build_folds

    build_folds(covid_ws, scheme="time", k=4, time="pan_day", force=True)
    cfg = covid_ws.configs_dir / "fast.yaml"
    a = train(covid_ws, cfg, tracking=False)
    b = train(covid_ws, cfg, ["model.params.num_leaves=4"], tracking=False)
    m = load_members(covid_ws, [a.id, b.id])
    assert m.scheme == "time" and sorted(m.train_masks) == [0, 1, 2, 3]
    res = stack_members(m, "logistic")
    for fit in res.fits:
        assert m.fold[fit["fit_rows"]].max() < fit["fold"]
    run = stack(covid_ws, [a.id, b.id], "logistic", tracking=False)
    bl = blend(covid_ws, [a.id, b.id], "weighted", tracking=False)
    for r in (run, bl):
        mt = r.metrics
        assert mt["unscored_folds"] == [0] and mt["scored_folds"] == [1, 2, 3] and "earlier" in mt["cv_scope"]
        assert [f["fold"] for f in mt["folds"]] == [1, 2, 3] and set(mt["members_on_scored"]) == {a.id, b.id}
        if r is run:  # the saved state re-applies to the run's own test predictions exactly
            from medalist.ensemble import predict_ensemble

            again = predict_ensemble(run.path, {a.id: a.test(), b.id: b.test()})
            np.testing.assert_array_equal(again.get_column("pred").to_numpy(), run.test().get_column("pred").to_numpy())
        assert r.oof().filter(pl.col("fold") == 0).get_column("pred").is_nan().all()  # unscored: NaN like never-validated rows
