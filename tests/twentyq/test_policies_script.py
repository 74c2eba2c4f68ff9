"""benchmarks/twentyq_policies.py: its in-process replay matches games played through the environment."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.conftest import load_benchmark

pytestmark = pytest.mark.skipif(importlib.util.find_spec("kaggle_environments") is None,
                                reason="kaggle-environments==1.18.0 (medalist[twentyq]) is not installed")


@pytest.fixture(scope="module")
def script():
    return load_benchmark("twentyq_policies")


def test_replay_equals_environment_game_for_game(script):
    from medalist.twentyq.assemble import make_guesser
    from medalist.twentyq.harness import load_env, play
    from medalist.twentyq.keywords import env_keywords

    kws = env_keywords()
    words = [k.keyword for k in kws]
    sim = script.Sim(words, 0.2)
    shipped = sim.policy("shipped")
    g = make_guesser(words, eps=0.2)
    make, module = load_env()
    env = make("llm_20_questions", debug=False)
    rounds_env, rounds_sim = [], []
    for i in range(10):
        res = play(kws[i], g, answerer="flip", eps=0.2, seed=i, env=env, module=module)
        rounds_env.append(res.round)
        rounds_sim.append(sim.play(shipped, i, i))
    assert rounds_sim == rounds_env
    assert any(r is None for r in rounds_env) or len(set(rounds_env)) > 1  # noisy games, not all alike


def test_json_output(script, capsys):
    assert script.main(["--limit", "4", "--seeds", "0", "--only", "shipped,top2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["eps"] == 0.2 and set(out["policies"]) == {"shipped", "top2"} and out["solve_rate_bound"] == 1.0
    for r in out["policies"].values():
        assert r["games"] == 4 and 0 <= r["solved"] <= 4 and len(r["per_seed"]) == 1
