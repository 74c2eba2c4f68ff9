"""The Kaggle agent function: one callable that plays guesser or answerer from the observation.

Observations are read defensively (dict or kaggle Struct, missing or malformed fields, empty
history, over-long questions): no exception ever reaches the environment, which would forfeit the
game. Pure Python: copied verbatim into the Kaggle submission.
"""

from __future__ import annotations

from .answerer import Answerer
from .guesser import Guesser

__all__ = ["make_agent", "read_obs"]

_SAFE_QUESTION = "Is it a physical object?"


def _field(obs, name, default):
    try:
        value = obs.get(name, default) if isinstance(obs, dict) else getattr(obs, name, default)
    except Exception:
        return default
    return default if value is None else value


def _str_list(value) -> list[str]:
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        return []
    return ["" if v is None else str(v) for v in value]


def read_obs(obs) -> dict:
    """The fields an agent needs, with safe defaults.

    >>> read_obs({"turnType": "ask"})["questions"]
    []
    """
    return {
        "turnType": str(_field(obs, "turnType", "")),
        "questions": _str_list(_field(obs, "questions", [])),
        "answers": _str_list(_field(obs, "answers", [])),
        "guesses": _str_list(_field(obs, "guesses", [])),
        "keyword": str(_field(obs, "keyword", "")),
    }


def make_agent(guesser: Guesser, answerer: Answerer | None = None):
    """Return ``agent(obs, cfg=None) -> str`` for kaggle-environments.

    >>> agent = make_agent(Guesser(["apple", "pear"]))
    >>> agent({"turnType": "answer", "questions": ['Does the keyword start with the letter "a"?'], "keyword": "apple"})
    'yes'
    >>> agent({"turnType": "guess"})          # empty history: still a guess
    'apple'
    """
    answerer = answerer or Answerer()

    def agent(obs, cfg=None):
        o = read_obs(obs)
        turn, qs, ans, gs = o["turnType"], o["questions"], o["answers"], o["guesses"]
        try:
            if turn == "ask":
                n = min(len(qs), len(ans))
                return guesser.ask(qs[:n], ans[:n], gs) or _SAFE_QUESTION
            if turn == "guess":
                n = min(len(qs), len(ans))
                return guesser.guess(qs[:n], ans[:n], gs) or guesser.candidates[0][:100]
            if turn == "answer":
                return answerer.answer(qs[-1] if qs else "", o["keyword"])
        except Exception:
            pass
        return {"ask": _SAFE_QUESTION, "guess": guesser.candidates[0][:100]}.get(turn, "no")

    return agent
