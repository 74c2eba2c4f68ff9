"""Games through the real kaggle-environments llm_20_questions (a subset; the full run is a benchmark)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("kaggle_environments", reason="kaggle-environments==1.18.0 (medalist[twentyq]) is not installed")

from medalist.twentyq.assemble import make_guesser  # noqa: E402
from medalist.twentyq.harness import bench, play, summarize, wilson  # noqa: E402
from medalist.twentyq.keywords import env_keywords, is_held_out, split_keywords  # noqa: E402


@pytest.fixture(scope="module")
def keywords():
    return env_keywords()


def test_public_keyword_list(keywords):
    assert len(keywords) == 578 and len({k.keyword.lower() for k in keywords}) == 578
    train, held = split_keywords(keywords)
    assert len(held) == 123 and all(is_held_out(k.keyword) for k in held) and len(train) == 455


def test_exact_answerer_through_the_env(keywords):
    g = make_guesser([k.keyword for k in keywords], eps=0.0)
    subset = keywords[::48]                                   # 13 keywords across the alphabet
    res = bench(subset, g, answerer="exact")
    assert res["games"] == 13 and res["solve_rate"] == 1.0
    assert res["worst_round"] <= 9 and 5 <= res["mean_rounds"] <= 9
    assert res["mean_reward"] == pytest.approx(21 - res["mean_rounds"])


def test_handshake_game_and_rewards(keywords):
    g = make_guesser([k.keyword for k in keywords], eps=0.0, handshake=True)
    r = play(keywords[0], g)                                  # 'Advertisement': the first guess of round 1
    assert r.round == 1 and r.reward == 20 and r.questions == ["Is it Agent Alpha?"] and r.answers == ["yes"]
    r = play(keywords[300], g)
    assert r.round is not None and r.round <= 10 and r.reward == 21 - r.round


def test_flip_answerer_is_noisy_and_unsolved_games_pay_minus_one(keywords):
    words = [k.keyword for k in keywords]
    g = make_guesser(words, eps=0.0)
    r = play(keywords[5], g, answerer="flip", eps=0.45, seed=1)
    assert r.reward in (-1,) + tuple(range(1, 21))
    if r.round is None:
        assert r.reward == -1 and len(r.guesses) == 20
    g2 = make_guesser(words, eps=0.1)
    flips = play(keywords[7], g2, answerer="flip", eps=0.1, seed=4)
    assert flips.answers and set(flips.answers) <= {"yes", "no"}


def test_matrix_answerer_samples_rule_answers_exactly(keywords):
    g = make_guesser([k.keyword for k in keywords], eps=0.0)
    r = play(keywords[11], g, answerer="matrix", seed=0)
    assert r.round is not None and r.round <= 9


def test_summary_and_wilson():
    lo, hi = wilson(97, 100)
    assert (round(lo, 4), round(hi, 4)) == (0.9155, 0.9897)   # Wilson (1927) score interval, z = 1.96
    assert wilson(0, 0) == (0.0, 1.0)
    from medalist.twentyq.harness import GameResult

    s = summarize([GameResult("a", 3, 18, [], [], []), GameResult("b", None, -1, [], [], [])])
    assert s["solve_rate"] == 0.5 and s["mean_rounds"] == 3 and s["worst_round"] == 3 and s["mean_reward"] == 8.5


def test_env_loads_without_torch(tmp_path):
    """The env module imports torch/transformers; the harness stubs them when they are missing."""
    code = textwrap.dedent("""
        import sys, importlib.abc
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "transformers"):
                    raise ImportError("blocked for the test: " + name)
        sys.meta_path.insert(0, Block())
        from medalist.twentyq.harness import load_env, play
        from medalist.twentyq.keywords import env_keywords
        from medalist.twentyq.guesser import Guesser
        make, mod = load_env()
        assert getattr(sys.modules["torch"], "__medalist_stub__", False)
        kws = env_keywords()
        r = play(kws[42], Guesser([k.keyword for k in kws], eps=0.0))
        print("ROUND", r.round)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ROUND " in out.stdout and "ROUND None" not in out.stdout


def test_semantic_answerer_plays_through_the_env(keywords):
    from medalist.twentyq.harness import ANSWERERS

    assert "semantic" in ANSWERERS
    g = make_guesser([k.keyword for k in keywords], eps=0.1, semantic=False)
    r = play(keywords[0], g, answerer="semantic")            # rule questions only: answered exactly
    assert r.round is not None and set(r.answers) <= {"yes", "no"}
