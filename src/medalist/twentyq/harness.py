"""Play games through kaggle-environments' ``llm_20_questions`` and summarise them.

The environment module imports torch/transformers at import time (for its flan-t5 demo agents) and
draws one keyword at import. :func:`load_env` stubs those imports when they are absent (no GPU and no
model download needed) and :func:`play` sets the module globals ``keyword``, ``alts`` and ``category``
before each game. Team 1 is the agent under test; team 2 is a passive pair that never wins, so every
game measures team 1 alone (a win in round r pays 21 − r, no win in 20 rounds pays −1).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
import types
from dataclasses import dataclass

import numpy as np

from .agent import make_agent
from .answerer import Answerer
from .bound import solve_rate_bound
from .errors import TwentyQArgumentError
from .guesser import Guesser
from .keywords import Keyword

__all__ = ["load_env", "play", "bench", "wilson", "GameResult", "ANSWERERS"]

ANSWERERS = ("exact", "flip", "matrix", "semantic")
_SEMANTIC: list = []  # the WordNet semantic answerer, built once per process (WordNet loads in ~2 s)


def _stub_heavy_imports() -> None:
    for name in ("torch", "transformers"):
        if name in sys.modules:
            continue
        try:
            if importlib.util.find_spec(name) is not None:
                importlib.import_module(name)
                continue
        except Exception:  # a broken install is as good as none for the env's demo agents
            pass
        stub = types.ModuleType(name)
        stub.__medalist_stub__ = True
        if name == "torch":
            stub.cuda = types.SimpleNamespace(is_available=lambda: False)
        else:
            stub.T5Tokenizer = stub.T5ForConditionalGeneration = None
        sys.modules[name] = stub


def load_env():
    """(kaggle_environments.make, the llm_20_questions module), importable without torch."""
    from medalist.core.errors import MissingDependencyError

    if importlib.util.find_spec("kaggle_environments") is None:
        raise MissingDependencyError("kaggle-environments", "twentyq", purpose="playing games")
    _stub_heavy_imports()
    import contextlib
    import logging

    logging.getLogger("kaggle_environments").setLevel(logging.WARNING)
    # the package prints its import chatter (and binds log handlers) to stdout; `--json` needs stdout clean
    with contextlib.redirect_stdout(sys.stderr):
        ke = importlib.import_module("kaggle_environments")
        mod = importlib.import_module("kaggle_environments.envs.llm_20_questions.llm_20_questions")
    return ke.make, mod


@dataclass
class GameResult:
    keyword: str
    round: int | None  # round of the winning guess, None if not solved
    reward: int
    questions: list[str]
    answers: list[str]
    guesses: list[str]


def _flip(agent, eps: float, rng: np.random.Generator):
    def noisy(obs, cfg=None):
        a = agent(obs, cfg)
        if eps > 0 and rng.random() < eps:
            return "no" if a == "yes" else "yes"
        return a

    return noisy


def _matrix_answerer(guesser: Guesser, rng: np.random.Generator):
    index = {c.lower(): i for i, c in enumerate(guesser.candidates)}

    def answer(obs, cfg=None):
        q, kw = obs.questions[-1], obs.keyword
        p = guesser.likelihood(q)
        i = index.get(kw.lower())
        if p is None or i is None:
            return Answerer().answer(q, kw)
        return "yes" if rng.random() < p[i] else "no"

    return answer


def _semantic_model():
    """The partner answerer of ``--answerer semantic``: WordNet + calibration, not the guesser's table."""
    if not _SEMANTIC:
        from medalist.core.errors import MissingDependencyError

        from .semantic import SemanticAnswerer

        try:
            _SEMANTIC.append(SemanticAnswerer())
        except FileNotFoundError as e:
            raise MissingDependencyError("wordnet-base (apt)", "twentyq", purpose="the semantic answerer",
                                         reason=str(e)) from e
    return _SEMANTIC[0]


def _passive(obs, cfg=None):
    return {"ask": "Is it a thing?", "guess": "zzzz-no-such-keyword"}.get(obs.turnType, "no")


def play(keyword: Keyword, guesser: Guesser, *, answerer: str = "exact", eps: float = 0.0,
         answer_model=None, seed: int = 0, env=None, module=None) -> GameResult:
    """Play one game through the environment with ``keyword`` as the secret."""
    if answerer not in ANSWERERS:
        raise TwentyQArgumentError("answerer", expected=" or ".join(ANSWERERS), found=repr(answerer))
    if env is None or module is None:
        make, module = load_env()
        env = make("llm_20_questions", debug=False)
    module.keyword, module.alts, module.category = keyword.keyword, list(keyword.alts), keyword.category
    rng = np.random.default_rng(seed)
    agent = make_agent(guesser, Answerer(answer_model))
    if answerer == "matrix":
        ans = _matrix_answerer(guesser, rng)
    elif answerer == "semantic":  # rules exact, everything else from WordNet (no handshake promise kept)
        ans = make_agent(guesser, Answerer(_semantic_model()))
    else:
        ans = _flip(agent, eps if answerer == "flip" else 0.0, rng)
    steps = env.run([agent, ans, _passive, _passive])
    last = steps[-1][0]
    obs = last["observation"]
    reward = int(last["reward"] if last["reward"] is not None else -1)
    solved = reward > 0 and last["status"] == "DONE" and len(obs["guesses"]) > 0
    return GameResult(keyword.keyword, len(obs["guesses"]) if solved else None, reward,
                      list(obs["questions"]), list(obs["answers"]), list(obs["guesses"]))


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion.

    >>> [round(x, 4) for x in wilson(578, 578)]
    [0.9934, 1.0]
    """
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def summarize(results: list[GameResult]) -> dict:
    """solve_rate (+ Wilson 95% CI), mean and worst rounds of solved games, mean reward, games."""
    n = len(results)
    won = [r.round for r in results if r.round is not None]
    lo, hi = wilson(len(won), n)
    return {
        "games": n,
        "solved": len(won),
        "solve_rate": len(won) / n if n else float("nan"),
        "solve_rate_ci95": [lo, hi],
        "mean_rounds": float(np.mean(won)) if won else float("nan"),
        "worst_round": max(won) if won else None,
        "mean_reward": float(np.mean([r.reward for r in results])) if n else float("nan"),
    }


def bench(keywords: list[Keyword], guesser: Guesser, *, answerer: str = "exact", eps: float = 0.0,
          games: int | None = None, seed: int = 0, answer_model=None, progress=None) -> dict:
    """Play ``games`` games (default: one per keyword, cycling) and return :func:`summarize`'s dict plus
    ``solve_rate_bound`` (:func:`medalist.twentyq.bound.solve_rate_bound`; None for the matrix answerer)."""
    if not keywords:
        raise TwentyQArgumentError("keywords to play", expected="at least one keyword", found="none")
    if games is not None and games < 1:
        raise TwentyQArgumentError("games", expected="a positive number of games", found=repr(games))
    make, module = load_env()
    env = make("llm_20_questions", debug=False)
    n = len(keywords) if games is None else games
    results = []
    for i in range(n):
        kw = keywords[i % len(keywords)]
        results.append(play(kw, guesser, answerer=answerer, eps=eps, answer_model=answer_model,
                            seed=seed * 1_000_003 + i, env=env, module=module))
        if progress is not None:
            progress(i + 1, n, results[-1])
    out = summarize(results)
    out.update({"answerer": answerer, "eps": eps, "guesser_eps": guesser.eps, "handshake": guesser.handshake,
                "candidates": len(guesser.candidates)})
    # the ceiling for any guesser (medalist.twentyq.bound): every keyword played equally often, flip noise
    uniform = n <= len(keywords) or n % len(keywords) == 0
    out["solve_rate_bound"] = (solve_rate_bound(min(n, len(keywords)), eps if answerer == "flip" else 0.0)
                               if answerer in ("exact", "flip") and uniform else None)
    out["failures"] = [r.keyword for r in results if r.round is None][:50]
    return out
