"""Smoke tests for the benchmarks: runner_overhead (hand loop == medalist), chunked_predict, features_polars_vs_pandas, features_limit."""

from __future__ import annotations

import pytest

from tests.conftest import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("runner_overhead")


def test_hand_loop_matches_medalist_bitwise(bench, covid_ws, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "NUM_BOOST_ROUND", 60)
    config = bench.write_config(covid_ws, threads=1)
    hand = bench.run_hand(covid_ws, "rownames", tmp_path / "hand", threads=1)
    med, run = bench.run_medalist(covid_ws, config)
    assert (tmp_path / "hand" / "lgbm_fold0.txt").is_file() and (run.path / "models").is_dir()
    assert hand.info["folds"] == 3 and hand.info["rows"] == med.oof.height
    assert bench.max_abs_diff(med.oof, hand.oof, "rownames") == 0.0
    assert bench.max_abs_diff(med.test, hand.test, "rownames") == 0.0
    assert med.auc == pytest.approx(hand.auc, abs=1e-12)
    assert 0 < hand.core_seconds <= hand.seconds and 0 < med.core_seconds <= med.seconds


@pytest.mark.slow
def test_quick_run_json(bench, capsys):
    import json

    assert bench.main(["--quick", "--json", "--no-warmup"]) == 0
    out = json.loads(capsys.readouterr().out)
    row = out["datasets"][0]
    assert row["identical"] and row["rows"] == 10862 and row["folds"] == 5
    assert row["ratio"] > 0 and row["mlflow"]["fresh_store_s"] > 0


_load = load_benchmark


@pytest.mark.slow
def test_chunked_predict_smoke(capsys):
    import json

    mod = _load("chunked_predict")
    assert mod.main(["--rows", "20000", "--repeats", "1", "--chunks", "3000", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["identical"] and out["rows"] == 20000 and out["features"] == mod.N_FEATURES
    assert [s["chunk_rows"] for s in out["summary"]] == [None, 3000]
    assert all(s["peak_rss_mib"] > 0 and s["seconds"] > 0 for s in out["summary"])


@pytest.mark.slow
def test_features_polars_vs_pandas_smoke(capsys):
    import json

    mod = _load("features_polars_vs_pandas")
    assert mod.main(["--rows", "20000", "--repeats", "1", "--lag", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["check"]["equal"] and out["check"]["columns"] == 23 and out["rows"] == 20000
    assert out["speedup"] > 0 and out["peak_rss_ratio"] > 0


@pytest.mark.slow
def test_ensembles_smoke(capsys):
    import json

    mod = _load("ensembles")
    assert mod.main(["--only", "covid", "--members", "lightgbm,linear", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    members = [r for r in rows if r["kind"] == "member"]
    assert [r["method"] for r in members] == ["lightgbm", "linear"] and members[0]["cv"] > 0.75
    done = {(r["kind"], r["method"]): r for r in rows if r["kind"] != "member" and not r.get("skipped")}
    assert {("blend", "hill-climb"), ("blend", "mean"), ("stack", "logistic")} <= set(done)
    hc = done[("blend", "hill-climb")]
    assert abs(hc["in_sample"] - hc["cv"]) < 0.01 and hc["cv"] > members[0]["cv"] - 0.005  # nested ≈ in-sample ≈ best member
    assert 0.5 < hc["holdout"] < 1 and hc["delta_best"] > -0.05
    with pytest.raises(SystemExit):
        mod.main(["--members", "lightgbm"])             # one member is not an ensemble


@pytest.mark.slow
def test_early_stopping_covid_json(capsys):
    import json

    mod = _load("early_stopping")
    assert mod.main(["--only", "covid", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {(r["stop_metric"], r["split"], r["inner_model"]): r for r in out["rows"]}
    assert len(rows) == 8
    # measured 2026-12-01: stopping on the scored fold inflates the native CV by 0.0157 over inner (refit)
    assert rows[("native", "scoring-fold", "")]["excess_optimism"] == pytest.approx(0.01572, abs=2e-4)
    # none trains every fold with the rounded mean of the rounds inner (refit) uses
    assert rows[("native", "none", "")]["rounds"] == round(rows[("native", "inner", "refit")]["rounds"])
    assert [h["library"] for h in out["hooks"]] == ["lightgbm", "xgboost", "catboost"]
    assert all(h["abs_diff"] < 1e-9 for h in out["hooks"])


@pytest.mark.slow
def test_features_limit_smoke(capsys):
    import json

    mod = _load("features_limit")
    assert mod.main(["--rows", "20000", "--repeats", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["identical"] and [(t["table"], t["rows"], t["columns"]) for t in out["tables"]] == [
        ("isic", 20000, 180), ("military", 20000, 21)]
    for t in out["tables"]:
        assert all(t["checks"][s]["max_abs_diff"] < 1e-9 for s in ("polars", "pandas"))
        assert all(t["summary"][s]["seconds"] > 0 and t["summary"][s]["peak_rss_mib"] > 0 for s in mod.SIDES)


@pytest.mark.slow
def test_fold_memory_smoke(capsys):
    import json

    import subprocess

    mod = _load("fold_memory")
    have = subprocess.run(["git", "-C", str(mod.REPO), "cat-file", "-e", f"{mod.BEFORE}^{{commit}}"], capture_output=True)
    if have.returncode != 0:  # a shallow clone lacks the 'before' commit the benchmark extracts
        pytest.skip(f"commit {mod.BEFORE} not in this clone (shallow?)")
    assert mod.main(["--rows", "20000", "--repeats", "1", "--rounds", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["identical"] and out["rows"] == 20000 and out["before"] == mod.BEFORE
    for side in out["sides"].values():
        assert side["loop_peak_mib"] >= side["rss_loop_start_mib"] > 0 and side["peak_rss_mib"] >= side["loop_peak_mib"]
