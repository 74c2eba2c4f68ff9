"""compare: paired per-fold differences and the seed-to-seed spread of the baseline."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from medalist.core.errors import FoldsError
from medalist.cv.compare import compare, nadeau_bengio, repeats_needed, seed_replicas
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


# Six fold differences (2 repeats × 3 folds), n_test/n_train = 1/4, worked by hand:
# mean = 0.038 / 6 = 0.0063333…; squared deviations sum to 1.23333e-4, s² = 1.23333e-4 / 5 = 2.46667e-5;
# corrected variance (1/6 + 1/4) · s² = 5/12 · 2.46667e-5 = 1.02778e-5, sqrt = 0.00320590;
# t = 0.0063333 / 0.0032059 = 1.97553 on df 5. Naive: s²/6 = 4.11111e-6, sqrt = 0.00202759, t = 3.12358.
DIFFS = [0.004, 0.012, -0.002, 0.008, 0.006, 0.010]


def test_nadeau_bengio_matches_the_hand_computation():
    from scipy import stats

    nb = nadeau_bengio(DIFFS, ratio=0.25)
    assert nb.corrected and nb.df == 5 and nb.ratio == 0.25
    assert nb.t == pytest.approx(1.97553, abs=1e-5)
    assert nb.p == pytest.approx(2 * stats.t.sf(1.97553, 5), abs=1e-5)
    assert nb.p == pytest.approx(0.10516, abs=1e-4)
    naive = nadeau_bengio(DIFFS, ratio=0.25, corrected=False)
    assert naive.t == pytest.approx(3.12358, abs=1e-5) and not naive.corrected
    assert nb.p > naive.p  # the correction is more cautious on the same differences
    assert naive.p < 0.05 < nb.p  # ... and here it changes the answer
    # at the observed mean and variance: r repeats of 3 folds give t = mean / sqrt((1/(3r) + 1/4) s²)
    need = repeats_needed(DIFFS, ratio=0.25, folds=3)
    assert need == 4
    def p_at(r):
        return 2 * stats.t.sf(0.0063333333 / (((1 / (3 * r) + 0.25) * 2.4666667e-5) ** 0.5), 3 * r - 1)

    assert p_at(3) > 0.05 > p_at(4)
    # ... cannot be beaten by repeats when the ratio term alone keeps t below the critical value
    assert repeats_needed(DIFFS, ratio=2.0, folds=3) is None


SEEDED = WEAK + "seeds: [1, 2, 3]\n"


def test_compare_replicas_average_as_many_seeds_as_the_run(covid_ws):
    (covid_ws.root / "configs" / "weak3.yaml").write_text(SEEDED)
    (covid_ws.root / "configs" / "bagged.yaml").write_text(BAGGED)
    a = train(covid_ws, Path("configs/weak3.yaml"), tracking=False)
    b = train(covid_ws, Path("configs/bagged.yaml"), tracking=False)
    assert a.record.seeds == [1, 2, 3]
    res = compare(covid_ws, a.id, b.id, seeds=2, alpha=0.05).summary()
    reps = seed_replicas(covid_ws, a)
    assert len(reps) == 2 and [len(r.record.seeds) for r in reps] == [3, 3]
    assert set(reps[0].record.seeds).isdisjoint([1, 2, 3]) and set(reps[0].record.seeds).isdisjoint(reps[1].record.seeds)
    assert res["replica_seed_count"] == 3 and res["n_seeds"] == 3
    for key in ("t", "df", "p", "corrected", "repeats_needed"):
        assert key in res
    assert res["corrected"] and res["df"] == 2 and res["p"] > res["p_naive"]
    assert 0.4 < res["test_ratio"] < 0.6  # 3 folds: each validates on about half as many rows as it trains on
