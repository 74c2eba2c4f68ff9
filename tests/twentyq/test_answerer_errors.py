"""The answerer's one handled failure is the answer model's: "no", logged and kept; rule bugs raise."""

from __future__ import annotations

import logging

import pytest

from medalist.twentyq import answerer as answerer_mod
from medalist.twentyq.answerer import Answerer


class Broken:
    name = "broken"

    def p_yes(self, q, k):
        raise RuntimeError("CUDA out of memory")


class NaN:
    name = "nan"

    def p_yes(self, q, k):
        return [[float("nan")]]


def test_model_failures_are_answered_no_and_recorded(caplog):
    a = Answerer(Broken())
    with caplog.at_level(logging.WARNING, logger="medalist.twentyq.answerer"):
        assert a.answer("Is it food?", "apple") == "no"
    assert a.model_errors == ["answer model 'broken' failed on 'Is it food?': RuntimeError: CUDA out of memory; answered 'no'"]
    assert "CUDA out of memory" in caplog.text
    b = Answerer(NaN())
    assert b.answer("Is it food?", "apple") == "no" and b.model_errors[0].endswith("p(yes) = nan; answered 'no'")
    assert Answerer(NaN()).answer('Does the keyword start with the letter "a"?', "apple") == "yes"  # rules first


def test_a_bug_in_the_rules_is_not_turned_into_no(monkeypatch):
    def buggy(q, kw):
        raise KeyError("bug")

    monkeypatch.setattr(answerer_mod, "rule_answer", buggy)
    with pytest.raises(KeyError, match="bug"):
        Answerer().answer("Is it food?", "apple")
