"""Blends: weight recovery on constructed OOF, honest nested CV, run files, refusals, CLI."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from medalist.core.errors import ConfigError, FoldsError, RunError
from medalist.ensemble import blend, fit_weights, hill_climb, load_members
from medalist.kaggle.submit import submit
from medalist.metrics.registry import get_metric
from medalist.runs.store import Run, list_runs

from .conftest import cli


def _constructed(n=20_000, sigmas=(0.5, 1.0, 2.0), seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    preds = [(y + rng.normal(scale=s, size=n)).reshape(-1, 1) for s in sigmas]
    inv = 1 / np.square(sigmas)
    return y, preds, inv / inv.sum()  # independent noises: MSE-optimal weights are ∝ 1/σ²


def test_weighted_recovers_the_known_optimum():
    y, preds, optimum = _constructed()
    w = fit_weights(preds, y, get_metric("rmse"))
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(w, optimum, atol=0.02)  # optimum = [0.762, 0.190, 0.048]


def test_weighted_finds_weights_for_a_step_shaped_metric():
    # AUC: a useless member must get (almost) no weight, and the blend must beat the best member
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 8000)
    good = [(y + rng.normal(scale=s, size=8000)).reshape(-1, 1) for s in (0.8, 1.0)]
    noise = rng.normal(size=(8000, 1))
    auc = get_metric("auc")
    w = fit_weights([*good, noise], y, auc)
    assert w[2] < 0.05
    blended = (w[0] * good[0] + w[1] * good[1] + w[2] * noise)[:, 0]
    assert auc(y, blended) > max(auc(y, good[0][:, 0]), auc(y, good[1][:, 0]))


def test_hill_climb_approaches_the_optimum_with_replacement():
    y, preds, optimum = _constructed()
    w = hill_climb(preds, y, get_metric("rmse"), max_iter=200, patience=20)
    assert w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(w, optimum, atol=0.06)
    assert w[0] > 0.5  # the best member was picked more than once (with replacement)


@pytest.mark.parametrize("method", ["weighted", "hill-climb"])
def test_fitted_blend_is_a_run_with_honest_nested_cv(ens_ws, method):
    run = blend(ens_ws, ["a-001", "b-001"], method, tracking=False)
    m, info = run.metrics, run.info
    # nested: weights fitted on the other folds, scored on the held-out fold -> never better than in-sample
    assert m["oof"] == m["nested"]
    assert m["nested"] <= m["in_sample"] + 1e-12  # auc: higher is better
    assert set(m["fold_weights"]) == {"0", "1", "2"}
    assert sum(m["weights"].values()) == pytest.approx(1.0)
    # same files as a trained run, readable by the store, listable, submittable
    for name in ("config.yaml", "run.json", "metrics.json", "oof.parquet", "test.parquet"):
        assert (run.path / name).is_file(), name
    a = Run.open(ens_ws, "a-001")
    oof = run.oof()
    assert oof.columns == a.oof().columns and oof.get_column("fold").to_list() == a.oof().get_column("fold").to_list()
    assert run.test().height == a.test().height
    assert info["status"] == "done" and info["folds_hash"] == a.info["folds_hash"] and info["members"] == ["a-001", "b-001"]
    assert run.id in [r.id for r in list_runs(ens_ws)]
    # the reported CV is the metric of the written OOF file
    y = pl.read_csv(ens_ws.train_path).get_column("target").to_numpy()
    assert get_metric("auc")(y, oof.get_column("pred").to_numpy()) == pytest.approx(m["oof"], abs=1e-12)
    sub = submit(ens_ws, run.id, local=True, message="blend")
    assert sub.cv == pytest.approx(m["oof"])


def test_mean_blend_is_the_average_and_blends_stack_again(ens_ws):
    run = blend(ens_ws, ["a-001", "b-001"], "mean", tracking=False)
    a, b = (Run.open(ens_ws, r).oof().get_column("pred").to_numpy() for r in ("a-001", "b-001"))
    np.testing.assert_allclose(run.oof().get_column("pred").to_numpy(), (a + b) / 2)
    assert run.metrics["in_sample"] == run.metrics["nested"]
    again = blend(ens_ws, [run.id, "a-001"], "hill-climb", tracking=False)  # a blend is a run like any other
    assert again.info["members"] == [run.id, "a-001"]


def test_rank_and_power_blends(ens_ws):
    r = blend(ens_ws, ["a-001", "b-001"], "rank", tracking=False)
    p = r.test().get_column("pred")
    assert 0 < p.min() and p.max() <= 1
    pw = blend(ens_ws, ["a-001", "b-001"], "power", power=2.0, tracking=False)
    a, b = (Run.open(ens_ws, x).test().get_column("pred").to_numpy() for x in ("a-001", "b-001"))
    np.testing.assert_allclose(pw.test().get_column("pred").to_numpy(), (a**2 + b**2) / 2)
    assert pw.config["ensemble"]["power"] == 2.0


def _clone_run(ws, src: str, dst: str, **info_changes):
    import shutil

    shutil.copytree(ws.runs_dir / src, ws.runs_dir / dst)
    p = ws.runs_dir / dst / "run.json"
    info = json.loads(p.read_text())
    info.update(id=dst, **info_changes)
    p.write_text(json.dumps(info))


def test_blend_refuses_other_folds_tasks_unfinished_and_bad_methods(ens_ws):
    _clone_run(ens_ws, "a-001", "otherfolds-001", folds_hash="0123456789abcdef")
    with pytest.raises(FoldsError, match="otherfolds-001.*folds"):
        blend(ens_ws, ["a-001", "otherfolds-001"], "mean", tracking=False)
    _clone_run(ens_ws, "a-001", "regr-001", task="regression")
    with pytest.raises(RunError, match="task"):
        blend(ens_ws, ["a-001", "regr-001"], "mean", tracking=False)
    _clone_run(ens_ws, "a-001", "half-001", status="running")
    with pytest.raises(RunError, match="finished"):
        blend(ens_ws, ["a-001", "half-001"], "mean", tracking=False)
    with pytest.raises(ConfigError, match="hill-climb"):
        blend(ens_ws, ["a-001", "b-001"], "hill-clim", tracking=False)
    with pytest.raises(RunError, match="at least 2"):
        blend(ens_ws, ["a-001"], "mean", tracking=False)
    with pytest.raises(RunError, match="nope"):
        load_members(ens_ws, ["a-001", "nope-001"])


def test_blend_cli_json(ens_ws, monkeypatch, capsys):
    code, out, err = cli(monkeypatch, capsys, "blend", "a-001", "b-001", "--method", "weighted", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["nested"] <= res["in_sample"] and set(res["weights"]) == {"a-001", "b-001"}
    code, out, err = cli(monkeypatch, capsys, "blend", "a-001", "zzz-001")
    assert code == 2 and "zzz-001" in err


@pytest.mark.parametrize("method", ["rank", "power"])
def test_scale_changing_blends_are_refused_for_regression(method):
    # found by benchmarks/ensembles.py: on ISLR Wage (log wage, RMSE) a rank blend scored 4.16 and a
    # power blend 17.1 against 0.285 for any member: ranks and squares are not target values
    from types import SimpleNamespace

    from medalist.ensemble.blend import blend_members

    p = np.linspace(1.0, 5.0, 12).reshape(-1, 1)
    m = SimpleNamespace(data=SimpleNamespace(task="regression"), oof=[p, p + 0.1], test=[p, p + 0.1])
    with pytest.raises(ConfigError, match=f"'{method}' on a regression task") as e:
        blend_members(m, method)
    assert "weighted or hill-climb" in str(e.value)


def test_hill_climb_nested_cv_is_not_below_the_best_member(ens_ws):
    """The covid table of benchmarks/ensembles.py (which checks every table with --check): the nested hill-climb
    CV, scored on the same rows as the members, is at least the best member's."""
    from medalist.ensemble import blend_members, load_members

    m = load_members(ens_ws, ["a-001", "b-001"])
    rows = m.valid
    best = max(m.metric(m.y[rows], m.out(p[rows])) for p in m.oof)  # auc
    res = blend_members(m, "hill-climb")
    assert res.nested >= best - 1e-12, (res.nested, best)
    assert res.nested == pytest.approx(0.77321, abs=5e-4) and best == pytest.approx(0.77276, abs=5e-4)  # measured
