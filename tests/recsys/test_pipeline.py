"""Recsys runs: YAML config, run folder like any other run, MLflow mirror, CLI with --json."""

from __future__ import annotations

import json
import sys

import polars as pl
import pytest
import yaml

from medalist.core.errors import ConfigError
from medalist.recsys import load_recsys_config, run_recsys
from medalist.runs.store import list_runs

CONFIG = {
    "name": "ml-small",
    "data": {"source": "ratings.csv", "user": "userId", "item": "movieId", "time": "timestamp", "weight": "rating"},
    "split": {"holdout": 3, "min_train": 5},
    "k": 5,
    "candidates": [{"name": "popular", "k": 20}, {"name": "covisit", "k": 20}, {"name": "mf", "k": 20, "factors": 16}],
    "ranker": {"num_boost_round": 30, "params": {"min_data_in_leaf": 20}},
}


@pytest.fixture
def small_config(movielens, tmp_path):
    """A CSV of MovieLens' first 120 users and a config pointing at it (relative path)."""
    small = movielens.filter(pl.col("user") <= 120).rename(
        {"user": "userId", "item": "movieId", "time": "timestamp", "weight": "rating"})
    small.write_csv(tmp_path / "ratings.csv")
    path = tmp_path / "recsys.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def test_run_folder_has_metrics_and_recommendations(small_config, tmp_path):
    run = run_recsys(small_config, ["ranker.num_boost_round=20"], runs_dir=tmp_path / "runs")
    assert run.id == "ml-small-001" and run.status == "done"
    files = {p.name for p in run.path.iterdir()}
    assert {"config.yaml", "run.json", "metrics.json", "valid_recs.parquet", "recommendations.parquet",
            "importance.parquet", "versions.json"} <= files
    m = run.metrics
    assert m["metric"] == "map@5" and m["oof"] == m["reranker"]["map@5"] and run.info["cv"] == m["oof"]
    assert 0 < m["baseline"]["map@5"] and 0 < m["candidate_recall"] <= 1
    assert run.config["ranker"]["num_boost_round"] == 20  # the resolved config, override applied
    recs = pl.read_parquet(run.path / "recommendations.parquet")
    assert recs["user"].n_unique() == 120 and recs.group_by("user").len()["len"].max() == 5
    valid = pl.read_parquet(run.path / "valid_recs.parquet")
    assert valid["user"].n_unique() == m["n_valid_users"]


def test_config_errors_name_the_key(small_config):
    with pytest.raises(ConfigError, match=r"key 'ranker.objectiv'.*did you mean 'objective'"):
        load_recsys_config(small_config, ["ranker.objectiv=binary"])
    with pytest.raises(ConfigError, match="did you mean 'covisit'"):
        load_recsys_config(small_config, ["candidates=[covisits]"])
    with pytest.raises(ConfigError, match="key 'k'"):
        load_recsys_config(small_config, ["k=0"])


def test_cli_json(small_config, tmp_path, monkeypatch, capsys):
    from medalist.cli.app import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["medalist", "recsys", str(small_config), "refit_full=false", "--json", "--runs-dir", "out"])
    main()
    out = json.loads(capsys.readouterr().out)
    assert out["run"] == "ml-small-001" and out["metric"] == "map@5"
    assert [r["stage"] for r in out["table"]][0] == "popularity (baseline)"
    assert (tmp_path / "out" / "ml-small-001" / "metrics.json").is_file()


@pytest.mark.slow  # ~30 s: MLflow's import and SQLite migrations
def test_run_in_a_workspace_is_listed_and_tracked(covid_ws, small_config):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from medalist.core.config import TrackingConfig

    covid_ws.config.tracking = TrackingConfig()
    covid_ws.save_config()
    data = yaml.safe_load(small_config.read_text())
    data["data"]["source"] = str(small_config.parent / "ratings.csv")
    data["refit_full"] = False
    cfg = covid_ws.root / "configs" / "recsys.yaml"
    cfg.write_text(yaml.safe_dump(data))
    run = run_recsys(cfg, ws=covid_ws)
    assert run.path.parent == covid_ws.runs_dir and run.id in [r.id for r in list_runs(covid_ws)]
    mrun = MlflowClient(tracking_uri=covid_ws.tracking_uri).get_run(run.info["mlflow_run_id"])
    assert mrun.data.metrics["cv_map_at_5"] == pytest.approx(run.metrics["oof"])
    assert mrun.data.params["ranker.num_boost_round"] == "30"
