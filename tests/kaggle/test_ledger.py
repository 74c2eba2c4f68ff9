"""The CV–LB ledger on a local competition: lb, correlation, pick, description round trip."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from medalist.cli.app import app
from medalist.kaggle.ledger import (
    correlation,
    description,
    ledger,
    parse_description,
    pick,
)
from medalist.kaggle.submit import submit
from medalist.runs.store import list_runs

runner = CliRunner()


def _cli(*args):
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def test_local_ledger_lb_and_pick(trained_ws):
    ids = [r.id for r in list_runs(trained_ws)]
    assert len(ids) == 2
    for rid in ids:
        submit(trained_ws, rid, message=f"try {rid}", local=True)
    led = ledger(trained_ws)
    assert led.height == 2 and led.get_column("public").is_not_null().all()
    assert set(led.get_column("model")) == {"lightgbm", "sklearn:sklearn.linear_model.LogisticRegression"}
    out = json.loads(_cli("lb", "--json"))
    assert len(out["submissions"]) == 2
    assert out["correlation"]["public"]["n"] == 2
    assert "not known yet" in out["correlation"]["public"]["warning"]  # small sample warning
    assert out["plot"] and (trained_ws.submissions_dir / "cv_lb.png").read_bytes()[:4] == b"\x89PNG"
    p = json.loads(_cli("pick", "--json"))
    cvs = {r.id: r.cv for r in list_runs(trained_ws)}
    assert p["picks"][0]["run"] == max(cvs, key=cvs.get)  # AUC: best CV first
    assert p["picks"][1]["run"] == min(cvs, key=cvs.get)
    assert p["picks"][1]["oof_corr"] is not None and -1 <= p["picks"][1]["oof_corr"] <= 1
    assert any("not known yet" in w for w in p["warnings"])
    table = _cli("lb")
    assert "Pearson" not in table or "n=2" in table


def test_pick_prefers_diverse_second(trained_ws, monkeypatch):
    """Among runs within the fold noise of the best, the less correlated (other family) one is second."""

    runs = list_runs(trained_ws)
    best = max(runs, key=lambda r: r.cv)
    other = [r for r in runs if r.id != best.id][0]
    # a near-copy of the best run: same OOF + tiny noise, CV just below the best
    import shutil

    clone = trained_ws.runs_dir / f"{best.id}-clone"
    shutil.copytree(best.path, clone)
    info = json.loads((clone / "run.json").read_text()); info["id"] = clone.name; info["created"] = "9999"
    (clone / "run.json").write_text(json.dumps(info))
    m = json.loads((clone / "metrics.json").read_text()); m["oof"] = best.cv - 1e-4
    (clone / "metrics.json").write_text(json.dumps(m))
    res = pick(trained_ws, tolerance=abs(best.cv - other.cv) + 1e-3)
    assert res.picks[0]["run"] == best.id
    assert res.picks[1]["run"] == other.id, res.picks  # not the clone (OOF corr 1.0)
    res2 = pick(trained_ws, tolerance=1e-3)  # other not within tolerance; clone too similar -> next best CV + warning
    assert res2.picks[1]["run"] == clone.name
    assert any("almost the same model" in w for w in res2.warnings)


def test_correlation_weak_and_good():
    rng = np.random.default_rng(0)
    cv = np.linspace(0.7, 0.8, 8)
    good = pl.DataFrame({"run": [f"r{i}" for i in range(8)], "file": [""] * 8, "cv": cv, "public": cv + rng.normal(0, 0.002, 8)})
    c = correlation(good)
    assert c["n"] == 8 and c["pearson"] > 0.9 and c["spearman"] > 0.9 and c["warning"] is None
    weak = good.with_columns(pl.Series("public", rng.permutation(good.get_column("public").to_numpy())))
    w = correlation(weak)
    if w["spearman"] < 0.5:
        assert "weak CV–LB correlation" in w["warning"]
    tiny = correlation(good.head(3))
    assert "not known yet" in tiny["warning"]


def test_description_round_trip():
    d = description("lgbm-007", 0.8123456, "0123456789abcdef", "more leaves")
    assert d.startswith("more leaves [medalist run=lgbm-007")
    assert parse_description(d) == {"run": "lgbm-007", "cv": pytest.approx(0.812346), "git": "0123456"}
    assert parse_description("hand-made submission") == {}
