"""Bad observations never raise into the environment; answers are always 'yes' or 'no'."""

from __future__ import annotations

import types

import pytest

from medalist.twentyq.agent import make_agent
from medalist.twentyq.answerer import Answerer, TableAnswerModel
from medalist.twentyq.guesser import Guesser

WORDS = ["apple", "banana", "cherry", "date"]


@pytest.fixture
def agent():
    return make_agent(Guesser(WORDS, eps=0.1), Answerer())


@pytest.mark.parametrize("obs", [
    {},                                                         # nothing at all
    {"turnType": "ask"},                                        # empty history
    {"turnType": "guess"},
    {"turnType": "answer"},                                     # no question, no keyword
    {"turnType": "answer", "questions": [], "keyword": "apple"},
    {"turnType": "answer", "questions": ["x" * 5000], "keyword": "apple"},   # over-length question
    {"turnType": "answer", "questions": [None], "keyword": None},
    {"turnType": "ask", "questions": "not a list", "answers": 3, "guesses": None},
    {"turnType": "ask", "questions": ["q1", "q2"], "answers": ["yes"], "guesses": []},   # ragged history
    {"turnType": "guess", "questions": ["q1"], "answers": ["maybe"], "guesses": [42]},
    {"turnType": "bogus"},
    None,
    types.SimpleNamespace(turnType="ask"),                      # attribute-style, missing fields
])
def test_bad_observations_give_a_valid_action(agent, obs):
    out = agent(obs, None)
    assert isinstance(out, str) and out
    if isinstance(obs, dict) and obs.get("turnType") == "answer":
        assert out in ("yes", "no")
    if isinstance(obs, dict) and obs.get("turnType") == "ask":
        assert len(out) <= 750
    if isinstance(obs, dict) and obs.get("turnType") == "guess":
        assert out in WORDS


def test_answerer_never_raises_on_a_broken_model():
    class Broken:
        name = "broken"

        def p_yes(self, q, k):
            raise RuntimeError("CUDA out of memory")

    assert Answerer(Broken()).answer("Is it food?", "apple") == "no"
    assert Answerer(Broken()).answer('Does the keyword start with the letter "a"?', "apple") == "yes"


def test_table_model_answers_semantic_questions():
    a = Answerer(TableAnswerModel(["Is it food?"], WORDS, [[0.9, 0.8, 0.7, 0.1]]))
    assert a.answer("Is it food?", "Apple") == "yes"
    assert a.answer("is it food?", "date") == "no"
    assert a.answer("Is it blue?", "apple") == "no"
