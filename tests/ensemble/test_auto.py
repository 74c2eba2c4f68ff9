"""medalist auto: the plan trains on the workspace folds, reuses runs, stops on the budget, leaks nothing."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import yaml

from medalist.core.errors import ConfigError, DataError
from medalist.ensemble.auto import auto, portfolio_config
from medalist.ensemble.autoplan import CostModel, default_threads, inspect_table
from medalist.runs.store import Run, list_runs
from tests.conftest import run_medalist

SMALL = {"num_boost_round": 40, "early_stopping_rounds": 10}


def _shrink(ws, *models: str) -> None:
    # the real portfolio configs, cut to a few rounds so the test is quick
    for model in models:
        p = portfolio_config(ws, model)
        cfg = yaml.safe_load(p.read_text())
        if model != "linear":
            cfg["model"].update(SMALL)
        p.write_text(yaml.safe_dump(cfg))


def _rewrite_train(ws, frame: pl.DataFrame, **test_columns: pl.Expr) -> None:
    """Replace train.csv (and add ``test_columns`` to test.csv) and rebuild the folds for it (the folds
    carry the train table's hash)."""
    from medalist.workspace.folds import build_folds

    frame.write_csv(ws.train_path)
    if test_columns:
        pl.read_csv(ws.test_path).with_columns(**test_columns).write_csv(ws.test_path)
    ws.folds_path.unlink()
    build_folds(ws, scheme="group", k=3, group="subject_id")


def test_auto_plan_through_the_cli_then_reuses_every_run(covid_ws, monkeypatch, capsys):
    _shrink(covid_ws, "lightgbm", "linear")
    args = ["auto", "--budget", "600", "--threads", "1", "--model", "lightgbm", "--model", "linear", "--trials", "2",
            "--no-features", "--no-track", "--json"]
    code, out, err = run_medalist(monkeypatch, capsys, *args)
    assert code == 0, err
    s = json.loads(out)
    stages = [(r["stage"], r["family"]) for r in s["steps"]]
    assert stages[:2] == [("baseline", "lightgbm"), ("baseline", "linear")]
    assert ("tune", "lightgbm") in stages and ("bag", "lightgbm") in stages
    assert stages[-2:] == [("ensemble", "blend"), ("ensemble", "stack")]
    bag = Run.open(covid_ws, next(r["run"] for r in s["steps"] if r["stage"] == "bag"))
    assert bag.record.seeds == [42, 43, 44]
    # the plan ran out of steps long before 600 s, and says so
    assert s["plan_exhausted"] and s["seconds"] < 600
    # measured AUC (40 rounds): lightgbm 0.7762, linear 0.6789, blend ~0.78; margin 0.015
    cv = {r["run"]: r["cv"] for r in s["steps"] if r["run"]}
    assert cv["auto-lightgbm-001"] > 0.7762 - 0.015 and cv["auto-linear-001"] > 0.6789 - 0.015
    assert s["best_cv"] == max(v for v in cv.values())
    blend = Run.open(covid_ws, s["blend"])
    from medalist.ensemble.reapply import predict_ensemble

    members = {r: Run.open(covid_ws, r).test() for r in blend.record.members}
    assert predict_ensemble(blend.path, members).equals(blend.test())
    # the same call again trains nothing: every run is reused (same resolved config), threads may differ
    n_runs = len(list_runs(covid_ws))
    args[args.index("--threads") + 1] = "2"
    code, out, err = run_medalist(monkeypatch, capsys, *args)
    again = json.loads(out)
    assert code == 0 and len(list_runs(covid_ws)) == n_runs
    assert [r["run"] for r in again["steps"] if r["run"]] == [r["run"] for r in s["steps"] if r["run"]]
    assert all(r["note"].startswith("reused") for r in again["steps"] if r["run"] and r["stage"] != "tune"), again["steps"]


def test_id_like_columns_are_left_out(covid_ws):
    train = pl.read_csv(covid_ws.train_path)
    new = dict(student=pl.col("subject_id") * 7 + 1, row_no=pl.int_range(pl.len()) + 1000)
    _rewrite_train(covid_ws, train.with_columns(**new), **new)
    facts = inspect_table(covid_ws)
    assert set(facts.id_like) == {"student", "row_no"}, facts.id_like
    assert "group column under another name" in facts.id_like["student"] and "unique per row" in facts.id_like["row_no"]
    assert "age" in facts.features and "age" not in facts.id_like
    # covid's raw table: count encoding is not proposed (no categorical above 30 levels), group stats are
    assert "group_stats" in facts.candidates


def test_bad_input(covid_ws):
    _shrink(covid_ws, "lightgbm")
    # a budget too small for one baseline: the error names the minimum measured on this data
    with pytest.raises(ConfigError, match=r"at least ~\d+s on this data: the lightgbm baseline alone took") as e:
        auto(covid_ws, budget=0.01, models=["lightgbm"], threads=1, tracking=False)
    assert "medalist auto --budget" in str(e.value)
    # LightGBM checks the deadline between boosting rounds: stopped inside its first fold, not after it
    assert "less than one of 3 folds (stopped inside it)" in str(e.value)
    assert [r.status for r in list_runs(covid_ws)] == ["stopped"]  # stopped by the budget, not failed
    with pytest.raises(ConfigError, match="lightgbmm"):
        auto(covid_ws, budget=10, models=["lightgbmm"], tracking=False)
    # a table with no usable feature: only id-like columns are left
    train = pl.read_csv(covid_ws.train_path).select("rownames", "subject_id", "target")
    _rewrite_train(covid_ws, train.with_columns(row_no=pl.int_range(pl.len())))
    pl.read_csv(covid_ws.test_path).select("rownames", "subject_id").with_columns(row_no=pl.int_range(pl.len())) \
        .write_csv(covid_ws.test_path)
    with pytest.raises(DataError, match="at least one usable feature column") as e:
        auto(covid_ws, budget=10, models=["lightgbm"], threads=1, tracking=False)
    assert "row_no" in str(e.value)
    # a workspace without folds
    covid_ws.folds_path.unlink()
    with pytest.raises(ConfigError, match="no folds file") as e:
        auto(covid_ws, budget=10, tracking=False)
    assert "medalist folds" in str(e.value)


def test_a_run_stopped_by_the_budget_is_stopped_and_resumable(covid_ws, monkeypatch):
    import medalist.cv.runner as runner
    import medalist.ensemble.auto as auto_mod

    _shrink(covid_ws, "lightgbm", "linear")
    clock = {"t": 0.0}
    per_fold = {"lightgbm": 1.0, "linear": 30.0}  # simulated seconds per fold
    real_train = runner.train

    def timed_train(ws, config, overrides=None, *, on_event=None, **kw):
        model = "linear" if "linear" in str(config) else "lightgbm"

        def tick(kind, payload):
            if kind == "fold_done":
                clock["t"] += per_fold[model]
            on_event(kind, payload)

        return real_train(ws, config, overrides, on_event=tick, **kw)

    monkeypatch.setattr(runner, "train", timed_train)
    monkeypatch.setattr(auto_mod.time, "perf_counter", lambda: clock["t"])
    kw = dict(models=["lightgbm", "linear"], threads=1, tracking=False, tune=False, features=False)
    res = auto(covid_ws, budget=60, **kw)
    # lightgbm: 3 folds in 3 s; linear: 30 s after fold 0, two more folds would end at 93 s > 60 s (+2.5%)
    stopped = [s for s in res.steps if s.note.startswith("stopped")]
    assert [s.family for s in stopped] == ["linear"] and "1/3 folds" in stopped[0].note
    assert stopped[0].seconds == 30.0  # stopped right after its first fold, not at the end
    assert clock["t"] == 36.0  # then lightgbm's 3-seed bag (3 simulated folds) still fitted
    (run,) = [r for r in list_runs(covid_ws) if r.record.status == "stopped"]
    assert run.id == "auto-linear-001" and "StopRun" in run.record.error
    # --resume finishes the stopped run in its own folder from its saved fold
    per_fold["linear"] = 1.0
    res = auto(covid_ws, budget=600, resume=True, **kw)
    assert Run.open(covid_ws, "auto-linear-001").record.status == "done"
    assert [s.run.id for s in res.steps if s.stage == "baseline"] == ["auto-lightgbm-001", "auto-linear-001"]


def test_threads_and_costs():
    assert default_threads() >= 1
    c = CostModel()
    assert c.estimate("xgboost") is None
    c.measure("lightgbm", 10.0)
    assert c.estimate("catboost") == 30.0 and c.estimate("lightgbm", seeds=3) == 30.0
    c.measure("lightgbm", 20.0)  # a slower run: the estimate follows it up at once
    assert c.estimate("lightgbm") == 20.0


@pytest.mark.slow
def test_leak_control_shuffled_target_is_chance_at_every_stage(covid_ws):
    # the target shuffled across rows: nothing can be learnt, every stage's CV must be chance (AUC 0.5)
    _shrink(covid_ws, "lightgbm", "linear")
    train = pl.read_csv(covid_ws.train_path)
    rng = np.random.default_rng(0)
    _rewrite_train(covid_ws, train.with_columns(target=pl.Series(rng.permutation(train["target"].to_numpy()))))
    res = auto(covid_ws, budget=600, models=["lightgbm", "linear"], threads=1, tracking=False, trials=3)
    stages = {s.stage for s in res.steps if s.run is not None}
    assert stages >= {"baseline", "tune", "bag", "ensemble"}, res.summary()["steps"]
    # measured: every CV in 0.47-0.52 (n = 10,862; AUC's sd under the null ~0.006); margin 0.035 either side
    for s in res.steps:
        if s.run is not None:
            assert abs(float(s.run.cv) - 0.5) < 0.035, (s.stage, s.run.id, s.run.cv)
