"""compare: paired per-fold differences and the seed-to-seed spread of the baseline."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from medalist.core.errors import FoldsError
from medalist.cv.compare import compare
from medalist.cv.runner import train

BAGGED = """\
model:
  name: lightgbm
  params: {learning_rate: 0.1, num_leaves: 15, feature_fraction: 0.7, bagging_fraction: 0.7, bagging_freq: 1, verbosity: -1}
  early_stopping_rounds: 20
  num_boost_round: 200
threads: 1
"""
WEAK = """\
model:
  name: lightgbm
  params: {learning_rate: 0.02, num_leaves: 2, feature_fraction: 0.7, bagging_fraction: 0.7, bagging_freq: 1, verbosity: -1}
  early_stopping_rounds: 5
  num_boost_round: 10
threads: 1
"""


def test_compare_knows_the_noise(covid_ws, monkeypatch, capsys):
    (covid_ws.root / "configs" / "bagged.yaml").write_text(BAGGED)
    (covid_ws.root / "configs" / "weak.yaml").write_text(WEAK)
    weak = train(covid_ws, Path("configs/weak.yaml"), tracking=False)
    base = train(covid_ws, Path("configs/bagged.yaml"), tracking=False)
    same = train(covid_ws, Path("configs/bagged.yaml"), tracking=False)  # same config and seed: no real change

    res = compare(covid_ws, weak.id, base.id, seeds=2).summary()
    assert res["n_seeds"] == 3 and res["seed_std"] > 0  # seeds change a bagged LightGBM
    assert res["gain"] > 2 * res["seed_std"] and res["beyond_noise"] and "beyond seed noise" in res["verdict"]
    assert res["folds_b_better"] == 3 and len(res["folds"]) == 3
    assert res["gain"] == pytest.approx(base.cv - weak.cv)
    replicas = [r for r in res["seed_scores"] if r != weak.id]
    assert len(replicas) == 2  # retrained from weak's config with seeds 1000, 1001
    runs_before = len(list(covid_ws.runs_dir.iterdir()))

    res = compare(covid_ws, base.id, same.id, seeds=2).summary()
    assert res["gain"] == 0 and not res["beyond_noise"] and res["verdict"].startswith("within noise")

    # replicas are remembered: asking again trains nothing
    runs_mid = len(list(covid_ws.runs_dir.iterdir()))
    assert runs_mid == runs_before + 2
    from medalist.cli.app import main

    monkeypatch.setattr(sys, "argv", ["medalist", "compare", weak.id, base.id, "--json"])
    try:
        main()
    except SystemExit as e:
        assert not e.code
    out = json.loads(capsys.readouterr().out)
    assert out["beyond_noise"] and len(list(covid_ws.runs_dir.iterdir())) == runs_mid


def test_compare_refuses_other_folds(covid_ws):
    (covid_ws.root / "configs" / "weak.yaml").write_text(WEAK)
    a = train(covid_ws, Path("configs/weak.yaml"), tracking=False)
    b = train(covid_ws, Path("configs/weak.yaml"), tracking=False)
    p = b.path / "run.json"
    info = json.loads(p.read_text())
    info["folds_hash"] = "feedfeedfeedfeed"
    p.write_text(json.dumps(info))
    with pytest.raises(FoldsError, match="same folds"):
        compare(covid_ws, a.id, b.id, seeds=0)
