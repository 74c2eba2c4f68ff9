"""Blends and stacks re-applied to member test predictions reproduce their own test.parquet, and predict new rows."""

from __future__ import annotations

import importlib.util
import json
import shutil

import numpy as np
import polars as pl
import pytest
from scipy.stats import rankdata

from medalist.core.errors import DataError, RunError
from medalist.ensemble import blend, load_members, stack
from medalist.ensemble.metastate import SavedMeta
from medalist.ensemble.reapply import ensemble_inputs, predict_ensemble
from medalist.ensemble.stack import META, MetaSpec, meta_inputs
from medalist.runs.store import Run

RUNS = ["fast-001", "lin-001"]


def _members(ws, runs=RUNS):
    return {r: Run.open(ws, r).test() for r in runs}


def _test_table(ws):
    return pl.read_csv(ws.test_path, infer_schema_length=50_000)


def _elsewhere(run, tmp_path):
    # a copy outside the workspace: predict_ensemble must need nothing but the run folder
    dst = tmp_path / "pkg" / "runs" / run.id
    shutil.copytree(run.path, dst)
    return dst


@pytest.mark.parametrize("method", ["mean", "rank", "power", "weighted", "hill-climb"])
def test_blend_reproduces_its_test_predictions(trained_ws, tmp_path, method):
    run = blend(trained_ws, RUNS, method, tracking=False)
    state = json.loads((run.path / "models" / "blend.json").read_text())
    assert state["runs"] == RUNS and ensemble_inputs(run.path) == RUNS
    # the displayed weights stay rounded; the exact ones are what the test predictions used
    assert run.config["ensemble"]["weights"] == {r: round(w, 6) for r, w in zip(RUNS, state["weights_exact"])}
    got = predict_ensemble(_elsewhere(run, tmp_path), _members(trained_ws))
    assert got.equals(run.test())


def test_blend_on_a_subset_of_reordered_rows(trained_ws):
    members = _members(trained_ws)
    n = members[RUNS[0]].height
    keep = np.arange(0, n, 2)  # half the rows, the second member given in reverse order
    sub = {RUNS[0]: members[RUNS[0]][keep], RUNS[1]: members[RUNS[1]][keep[::-1]]}
    for method in ("mean", "power"):
        run = blend(trained_ws, RUNS, method, tracking=False)
        # row-wise blends: exactly the full prediction of those rows
        assert predict_ensemble(run.path, sub).equals(run.test()[keep])
    run = blend(trained_ws, RUNS, "rank", tracking=False)
    got = predict_ensemble(run.path, sub).get_column("pred").to_numpy()
    a, b = (sub[r].get_column("pred").to_numpy() for r in RUNS)
    b = b[::-1]  # back into the first member's row order
    w = json.loads((run.path / "models" / "blend.json").read_text())["weights_exact"]
    by_hand = (w[0] * rankdata(a) / len(a) + w[1] * rankdata(b) / len(b)) / (w[0] + w[1])
    np.testing.assert_allclose(got, by_hand, rtol=0, atol=1e-15)  # ranks within the subset
    assert not np.allclose(got, run.test()[keep].get_column("pred").to_numpy())  # not the full set's ranks


@pytest.mark.parametrize("meta", ["logistic", "ridge", "lightgbm", "conv1x3"])
def test_stack_reproduces_its_test_predictions(trained_ws, tmp_path, meta):
    if meta == "conv1x3":
        pytest.importorskip("torch")
    run = stack(trained_ws, RUNS, meta, tracking=False)
    st = json.loads((run.path / "models" / "stack.json").read_text())
    assert st["meta"] == meta and st["runs"] == RUNS and st["n_folds"] == 3 and len(st["folds"]) == 3
    names = sorted(p.name for p in (run.path / "models").iterdir())
    assert not [x for x in names if x.endswith((".pkl", ".pickle", ".joblib", ".pt"))]
    if meta == "lightgbm":
        assert "meta-fold0.booster.txt" in names
    got = predict_ensemble(_elsewhere(run, tmp_path), _members(trained_ws))
    assert got.equals(run.test())


def test_stack_with_features_and_selection(trained_ws):
    pytest.importorskip("optuna")
    test = _test_table(trained_ws)
    members = _members(trained_ws)
    s1 = stack(trained_ws, RUNS, "logistic", with_features=True, select="optuna", trials=3, tracking=False)
    st = json.loads((s1.path / "models" / "stack.json").read_text())
    assert st["with_features"] and st["candidates"] == RUNS and st["runs"] == s1.record.members
    assert any(c["kind"] == "category" for c in st["features"]["columns"].values())  # string columns were encoded
    assert predict_ensemble(s1.path, members, test).equals(s1.test())
    s2 = stack(trained_ws, RUNS, "lightgbm", with_features=True, tracking=False)
    assert predict_ensemble(s2.path, members, test).equals(s2.test())
    # a subset of rows, the test table shuffled: exactly those rows of the full prediction
    n = test.height
    keep = np.arange(1, n, 3)
    sub = {r: f[keep] for r, f in members.items()}
    shuffled = test.sample(fraction=1.0, shuffle=True, seed=3)
    for run in (s1, s2):
        assert predict_ensemble(run.path, sub, shuffled).equals(run.test()[keep])
    with pytest.raises(RunError, match="test table"):
        predict_ensemble(s2.path, members)
    with pytest.raises(DataError, match="unique ids"):
        predict_ensemble(s2.path, members, pl.concat([test, test[:2]]))
    with pytest.raises(DataError, match="feature"):
        predict_ensemble(s2.path, members, test.drop(st["features"]["features"][0]))


def test_stack_of_a_blend_chains(trained_ws):
    b = blend(trained_ws, RUNS, "hill-climb", tracking=False)
    s = stack(trained_ws, [b.id, RUNS[0]], "logistic", tracking=False)
    assert ensemble_inputs(s.path) == [b.id, RUNS[0]]
    members = _members(trained_ws)
    bt = predict_ensemble(b.path, members)
    assert predict_ensemble(s.path, {b.id: bt, RUNS[0]: members[RUNS[0]]}).equals(s.test())


def test_old_runs_and_bad_inputs_are_refused(trained_ws):
    run = stack(trained_ws, RUNS, "ridge", tracking=False)
    members = _members(trained_ws)
    with pytest.raises(RunError, match="lin-001"):
        predict_ensemble(run.path, {RUNS[0]: members[RUNS[0]]})
    with pytest.raises(DataError, match="ids missing"):
        predict_ensemble(run.path, {RUNS[0]: members[RUNS[0]], RUNS[1]: members[RUNS[1]][:10]})
    shutil.rmtree(run.path / "models")  # what a run of an older medalist looks like
    with pytest.raises(RunError, match=rf"run '{run.id}'.*older medalist.*re-run the blend/stack") as e:
        predict_ensemble(run.path, members)
    assert "models/stack.json" in str(e.value)
    assert ensemble_inputs(run.path) == RUNS  # still known from config.yaml, for dependency graphs
    model_run = Run.open(trained_ws, RUNS[0])
    assert ensemble_inputs(model_run.path) == []
    with pytest.raises(RunError, match="blend or stack run"):
        predict_ensemble(model_run.path, members)
    with pytest.raises(RunError, match="run.json"):
        ensemble_inputs(trained_ws.runs_dir / "nope-001")


class _Stateless:
    """A custom meta model without ``state()``: its stack works but cannot be re-applied."""

    def __init__(self, spec):
        self.spec = spec

    def fit(self, X, y):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full((len(X), 1), self.mean_)


def test_a_meta_model_without_state_is_named(trained_ws):
    META.register("stateless", _Stateless, overwrite=True)
    run = stack(trained_ws, RUNS, "stateless", tracking=False)
    assert json.loads((run.path / "models" / "stack.json").read_text())["folds"] is None
    with pytest.raises(RunError, match="'stateless' has no state"):
        predict_ensemble(run.path, _members(trained_ws))


def test_saved_meta_models_match_the_libraries(trained_ws):
    # the saved-state predictors are faithful ports: same predictions as sklearn / torch to rounding
    m = load_members(trained_ws, RUNS)
    X, y = meta_inputs(m.oof, m.data.task), m.y
    spec = MetaSpec(task=m.data.task, n_members=2, width=1)
    for meta in ("logistic", "ridge", "lightgbm"):
        model = META.get(meta)(spec).fit(X, y)
        saved = SavedMeta(*model.state(), task=spec.task, width=1)
        np.testing.assert_allclose(saved.predict(X), model.predict(X), rtol=0, atol=1e-12, err_msg=meta)
    if importlib.util.find_spec("torch") is not None:
        model = META.get("conv1x3")(spec)
        model.epochs = 30
        model.fit(X, y)
        saved = SavedMeta(*model.state(), task=spec.task, width=1)
        np.testing.assert_allclose(saved.predict(X), model.predict(X), rtol=0, atol=1e-6)  # torch computes in float32


def test_multiclass_power_blend_renormalizes(tmp_path):
    run = tmp_path / "blend-power-001"
    (run / "models").mkdir(parents=True)
    state = {"format": 1, "kind": "blend", "method": "power", "runs": ["a", "b"], "task": "multiclass", "id": "id",
             "pred_columns": ["p0", "p1", "p2"], "weights_exact": [0.25, 0.75], "power": 2.0}
    (run / "models" / "blend.json").write_text(json.dumps(state))
    (run / "run.json").write_text("{}")
    a = pl.DataFrame({"id": [1, 2], "p0": [0.2, 0.5], "p1": [0.3, 0.25], "p2": [0.5, 0.25]})
    b = pl.DataFrame({"id": [2, 1], "p0": [0.1, 0.6], "p1": [0.1, 0.2], "p2": [0.8, 0.2]})
    got = predict_ensemble(run, {"a": a, "b": b})
    pa = a.select("p0", "p1", "p2").to_numpy() ** 2
    pb = b.select("p0", "p1", "p2").to_numpy()[::-1] ** 2
    want = 0.25 * pa / pa.sum(1, keepdims=True) + 0.75 * pb / pb.sum(1, keepdims=True)
    np.testing.assert_allclose(got.select("p0", "p1", "p2").to_numpy(), want, rtol=0, atol=1e-15)
    assert got.get_column("id").to_list() == [1, 2]


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_saved_meta_models_match_the_libraries_on_other_tasks(task):
    rng = np.random.default_rng(0)
    n, m, k = 400, 2, (3 if task == "multiclass" else 1)
    if task == "multiclass":
        y = rng.integers(0, 3, n)
        preds = [np.clip(np.eye(3)[y] * 0.6 + rng.uniform(0, 0.4, (n, 3)), 1e-3, None) for _ in range(m)]
        preds = [p / p.sum(1, keepdims=True) for p in preds]
    else:
        y = rng.normal(size=n)
        preds = [(y + rng.normal(scale=s, size=n)).reshape(-1, 1) for s in (0.5, 1.0)]
    X = meta_inputs(preds, task)
    X[::17, 0] = np.nan  # imputed with the fold's median
    spec = MetaSpec(task=task, n_members=m, width=k)
    metas = ["logistic", "lightgbm"] if task == "multiclass" else ["ridge", "lightgbm"]
    for meta in metas:
        model = META.get(meta)(spec).fit(X, y)
        saved = SavedMeta(*json.loads(json.dumps(model.state())), task=task, width=k)  # through JSON, as on disk
        got = saved.predict(X)
        assert got.shape == (n, k)
        np.testing.assert_allclose(got, model.predict(X), rtol=0, atol=1e-12, err_msg=meta)
    if importlib.util.find_spec("torch") is not None:
        model = META.get("conv1x3")(spec)
        model.epochs = 30
        model.fit(np.nan_to_num(X), y)
        saved = SavedMeta(*json.loads(json.dumps(model.state())), task=task, width=k)
        np.testing.assert_allclose(saved.predict(np.nan_to_num(X)), model.predict(np.nan_to_num(X)), rtol=1e-5, atol=1e-6)
    if task == "multiclass":  # a fold that never saw class 1: its column stays 0, like the sklearn path
        keep = y != 1
        model = META.get("logistic")(spec).fit(X[keep], y[keep])
        saved = SavedMeta(*json.loads(json.dumps(model.state())), task=task, width=k)
        got = saved.predict(X)
        assert (got[:, 1] == 0).all()
        np.testing.assert_allclose(got, model.predict(X), rtol=0, atol=1e-12)
