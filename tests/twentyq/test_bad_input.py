"""Bad input on the answering side: over-long questions (the env's 750-character cut), malformed histories."""

from __future__ import annotations

import numpy as np
import pytest

from medalist.twentyq.agent import make_agent
from medalist.twentyq.answerer import Answerer
from medalist.twentyq.guesser import Guesser

RULE = 'Does the keyword start with the letter "A"?'


def test_question_over_750_characters_is_cut_like_the_environment():
    # kaggle-environments keeps question[:750]; the answerer reads what the env would deliver
    assert Answerer().answer(" " * 700 + RULE, "apple") == "yes"
    assert Answerer().answer(" " * 760 + RULE, "apple") == "no"      # the rule lies past the cut


@pytest.mark.parametrize("qs, ans, gs", [
    ([1, None, "Is it food?"], ["yes"], []),                   # non-strings, fewer answers than questions
    (["Is it food?"], ["yes", "no", "maybe"], [None, 3]),      # more answers than questions, odd guesses
    ([["nested"]], [{"a": 1}], ["apple"]),
])
def test_malformed_history_still_gives_a_valid_move(qs, ans, gs):
    g = Guesser(["apple", "dog", "car"], bank=["Is it food?"], bank_p=np.array([[1.0, 0, 0]]), handshake=True)
    agent = make_agent(g, Answerer())
    q = agent({"turnType": "ask", "questions": qs, "answers": ans, "guesses": gs})
    assert isinstance(q, str) and 0 < len(q) <= 750
    assert agent({"turnType": "guess", "questions": qs, "answers": ans, "guesses": gs}) in ("apple", "dog", "car")
    assert agent({"turnType": "answer", "questions": qs, "answers": ans, "keyword": "apple"}) in ("yes", "no")


def test_semantic_model_never_breaks_the_answer():
    class Semantic:
        name = "semantic"

        def p_yes(self, q, k):
            return [[float("nan")]]

    a = Answerer(Semantic())
    assert a.answer("Is it food?", "apple") == "no" and a.model_errors
    assert a.answer(None, 42) == "no" and a.answer("Is it food?", None) == "no"
