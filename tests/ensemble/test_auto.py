"""medalist auto: the portfolio trains on the workspace folds, blends, and honours the budget."""

from __future__ import annotations

import json
import sys

import pytest
import yaml

from medalist.core.errors import ConfigError
from medalist.ensemble.auto import auto, portfolio_config
from medalist.runs.store import Run

SMALL = {"num_boost_round": 40, "early_stopping_rounds": 10}


def _shrink(ws, model: str) -> None:
    # the real portfolio configs, cut to a few rounds so the test is quick
    p = portfolio_config(ws, model, threads=1)
    cfg = yaml.safe_load(p.read_text())
    cfg["model"].update(SMALL)
    p.write_text(yaml.safe_dump(cfg))


def test_auto_trains_the_portfolio_and_blends(covid_ws, monkeypatch, capsys):
    pytest.importorskip("xgboost")
    pytest.importorskip("catboost")
    for m in ("lightgbm", "xgboost", "catboost"):
        _shrink(covid_ws, m)
    from medalist.cli.app import main

    monkeypatch.setattr(sys, "argv", ["medalist", "auto", "--budget", "600", "--threads", "1", "--no-track", "--json"])
    try:
        main()
    except SystemExit as e:
        assert not e.code
    s = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in s["runs"]] == ["lightgbm", "xgboost", "catboost", "blend:hill-climb"]
    assert s["skipped"] == [] and s["blend"].startswith("auto-blend-")
    blend = Run.open(covid_ws, s["blend"])
    assert blend.info["members"] == [r["run"] for r in s["runs"][:3]]
    # auto's blend goes through the same writer: it can be re-applied to its members' test predictions
    from medalist.ensemble.reapply import predict_ensemble

    members = {r: Run.open(covid_ws, r).test() for r in blend.record.members}
    assert predict_ensemble(blend.path, members).equals(blend.test())
    # measured AUC: lightgbm 0.7762, xgboost 0.7369, catboost 0.6193 (40 rounds only: still warming up), blend 0.7747; margin 0.01
    measured = [0.7762, 0.7369, 0.6193, 0.7747]
    assert all(r["cv"] > m - 0.01 for r, m in zip(s["runs"], measured)), [r["cv"] for r in s["runs"]]
    assert s["best_cv"] == max(r["cv"] for r in s["runs"])


def test_auto_budget_skips_and_stops(covid_ws):
    _shrink(covid_ws, "lightgbm")
    res = auto(covid_ws, budget=0.001, models=["lightgbm", "xgboost"], threads=1, tracking=False)
    # the first member always finishes; the next one no longer fits and is skipped; nothing to blend
    assert [r.info["model"] for r in res.runs] == ["lightgbm"] and res.blend is None
    assert len(res.skipped) == 1 and res.skipped[0].startswith("xgboost") and "budget" in res.skipped[0]
    assert res.summary()["best"] == res.runs[0].id
    with pytest.raises(ConfigError, match="lightgbm"):
        auto(covid_ws, budget=10, models=["lightgbmm"], tracking=False)


def test_auto_stops_a_member_whose_remaining_folds_would_overrun(covid_ws, monkeypatch):
    pytest.importorskip("xgboost")
    import medalist.cv.runner as runner
    import medalist.ensemble.auto as auto_mod

    for m in ("lightgbm", "xgboost"):
        _shrink(covid_ws, m)
    clock = {"t": 0.0}
    per_fold = {"lightgbm": 1.0, "xgboost": 30.0}  # simulated seconds per fold
    real_train = runner.train

    def timed_train(ws, config, overrides=None, *, on_event=None, **kw):
        model = "xgboost" if "xgboost" in str(config) else "lightgbm"

        def tick(kind, payload):
            if kind == "fold_done":
                clock["t"] += per_fold[model]
            on_event(kind, payload)

        return real_train(ws, config, overrides, on_event=tick, **kw)

    monkeypatch.setattr(runner, "train", timed_train)
    monkeypatch.setattr(auto_mod.time, "perf_counter", lambda: clock["t"])
    res = auto(covid_ws, budget=60, models=["lightgbm", "xgboost"], threads=1, tracking=False)
    # lightgbm: 3 folds in 3 s; xgboost: 30 s after fold 0, two more folds would end at 93 s > 60 s
    assert [r.info["model"] for r in res.runs] == ["lightgbm"]
    assert res.skipped == ["xgboost: stopped, 1/3 folds in 30s, the rest would overrun the 60s budget"]
    assert clock["t"] == 33.0  # stopped right after its first fold, not at the end
