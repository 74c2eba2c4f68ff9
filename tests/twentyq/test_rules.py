"""The answerer's regex rules: every phrasing family, quotes, case and trailing spaces."""

from __future__ import annotations

import pytest

from medalist.twentyq import Answerer
from medalist.twentyq.rules import (
    ALPHA_QUESTION,
    alpha_order_question,
    length_question,
    letter_question,
    parse_rule,
    rule_answer,
    same_keyword,
    words_question,
)

ans = Answerer()


@pytest.mark.parametrize("question,keyword,expected", [
    ('Does the keyword start with the letter "A"?', "Air vent", "yes"),
    ("does the keyword START WITH the letter 'a'?   ", "air vent", "yes"),
    ("Does the keyword begin with the letter a?", "Bagpipes", "no"),
    ("Does the keyword begins with the letter \u201cb\u201d?", "bagpipes", "yes"),
    ("Does the keyword starts with letter 'B' ?", "Bagpipes", "yes"),
    ('Does the keyword end with the letter "S"?', "Aprons", "yes"),
    ("Does the keyword ends with the letter 'e'? ", "Aprons", "no"),
    ("Does the keyword end with the letter `n`?", "Air conditioner", "no"),
    ('Does the keyword contain the letter "Z"?', "Zinc", "yes"),
    ("Does the keyword include the letter 'q'?", "Zinc", "no"),
    ("does the keyword includes the letter \u2018i\u2019?", "ZINC", "yes"),
    ('Does the keyword (in lowercase) come before "laptop" in alphabetical order?', "Coffee Makers", "yes"),
    ("Does the keyword come before 'COFFEE' in alphabetical order? ", "coffee makers", "no"),
    ('Is the keyword one that precedes "m" in alphabetical order?', "Yoga mat", "no"),
    ("Does the keyword have more than 5 letters?", "Air vent", "yes"),   # 7 letters, spaces not counted
    ("Does the keyword have more than 7 letters?", "Air vent", "no"),
    ("Does the keyword consist of more than 1 word?", "Air vent", "yes"),
    ("Does the keyword consist of more than 2 words?", "Air vent", "no"),
    ("Is it Agent Alpha?", "anything", "yes"),
    ("is it agent alpha? ", "anything", "yes"),
])
def test_rule_questions_answered_exactly(question, keyword, expected):
    assert ans.answer(question, keyword) == expected


def test_canonical_phrasings_round_trip_through_the_regexes():
    assert parse_rule(letter_question("starts", "x")) == ("starts", "x")
    assert parse_rule(letter_question("ends", "Y")) == ("ends", "y")
    assert parse_rule(letter_question("contains", "q")) == ("contains", "q")
    assert parse_rule(alpha_order_question("Pressure Gauge")) == ("before", "pressure gauge")
    assert parse_rule(length_question(12)) == ("longer", "12")
    assert parse_rule(words_question(1)) == ("words", "1")
    assert parse_rule(ALPHA_QUESTION) == ("alpha", "")


@pytest.mark.parametrize("q", ["Is it a kind of fruit?", "", "letter", "Does it start with a bang?",
                               "Does it contain the letters 'ab'?"])
def test_non_rule_questions_are_left_to_the_model(q):
    assert rule_answer(q, "apple") is None
    assert ans.answer(q, "apple") == "no"          # no model: always a valid answer


def test_letter_rules_skip_non_letters():
    assert rule_answer('Does the keyword start with the letter "i"?', "(iv) bag") is True
    assert rule_answer('Does the keyword end with the letter "g"?', "bag!") is True


def test_same_keyword_matches_the_environment_rules():
    assert same_keyword("aprons", "Apron") and same_keyword("The Coffee Makers", "coffee maker")
    assert same_keyword("boxes", "box") and not same_keyword("ox", "oxs")
    assert not same_keyword("apple", "apple pie")
