"""Lexical questions answered exactly: the canonical phrasings the guesser asks and the regexes the
answerer reads them back with.

Small LLM answerers get letter and alphabetical questions wrong, so these are answered by rule.
The regexes accept quotes of any kind, any case and trailing spaces, because other
teams' guessers phrase them loosely. This module is pure Python: it is copied verbatim into the
Kaggle submission.

>>> rule_answer('Does the keyword start with the letter "A"?', "Apple pie")
True
>>> rule_answer("does the keyword (in lowercase) come before 'banana' in alphabetical order? ", "apple")
True
>>> rule_answer("Is it a kind of fruit?", "apple") is None
True
"""

from __future__ import annotations

import re
import string

__all__ = [
    "ALPHA_QUESTION",
    "normalize_guess",
    "same_keyword",
    "rule_answer",
    "parse_rule",
    "letter_question",
    "alpha_order_question",
    "length_question",
    "words_question",
    "rule_truth",
]

ALPHA_QUESTION = "Is it Agent Alpha?"

_Q = "[\"'\u2018\u2019\u201c\u201d`]?"  # an optional quote of any kind
_END = r"\s*[?.!]*\s*$"
_RULES: list[tuple[str, re.Pattern]] = [
    ("alpha", re.compile(r"\bagent\s+alpha\b", re.I)),
    ("starts", re.compile(rf"\b(?:starts?|begins?)\s+with\s+(?:the\s+)?(?:letter\s+)?{_Q}([a-z]){_Q}{_END}", re.I)),
    ("ends", re.compile(rf"\bends?\s+with\s+(?:the\s+)?(?:letter\s+)?{_Q}([a-z]){_Q}{_END}", re.I)),
    ("contains", re.compile(rf"\b(?:includes?|contains?|has|have)\s+(?:the\s+)?letter\s+{_Q}([a-z]){_Q}{_END}", re.I)),
    ("before", re.compile(
        rf"\bkeyword\b.*?\b(?:come\s+before|comes\s+before|precedes?)\s+{_Q}(.+?){_Q}\s+(?:in\s+)?(?:the\s+)?alphabetical(?:ly)?(?:\s+order)?{_END}",
        re.I)),
    ("longer", re.compile(rf"\bkeyword\b.*?\b(?:more|longer)\s+than\s+(\d+)\s+letters?{_END}", re.I)),
    ("words", re.compile(rf"\bkeyword\b.*?\bmore\s+than\s+(\d+)\s+words?{_END}", re.I)),
]


def parse_rule(question: str) -> tuple[str, str] | None:
    """Return ``(kind, argument)`` when ``question`` is a lexical question answered by rule.

    >>> parse_rule("Does the keyword end with the letter 'S'? ")
    ('ends', 's')
    """
    if not isinstance(question, str):
        return None
    q = question.strip()
    for kind, rx in _RULES:
        m = rx.search(q)
        if m:
            arg = m.group(1).lower() if m.groups() else ""
            return kind, arg
    return None


def _letters(keyword: str) -> str:
    return "".join(ch for ch in keyword.lower() if ch.isalpha())


def rule_truth(kind: str, arg: str, keyword: str) -> bool:
    """The exact answer of rule ``kind`` with ``arg`` for ``keyword``.

    >>> rule_truth("contains", "q", "Quilt")
    True
    """
    kw = keyword.lower().strip()
    letters = _letters(kw)
    if kind == "alpha":
        return True
    if kind == "starts":
        return letters[:1] == arg
    if kind == "ends":
        return letters[-1:] == arg
    if kind == "contains":
        return arg in letters
    if kind == "before":
        return kw < arg.lower()
    if kind == "longer":
        return len(letters) > int(arg)
    if kind == "words":
        return len(kw.split()) > int(arg)
    raise ValueError(f"unknown rule kind {kind!r}")


def rule_answer(question: str, keyword: str) -> bool | None:
    """True/False for a lexical question about ``keyword``; None when no rule applies."""
    parsed = parse_rule(question)
    if parsed is None:
        return None
    return rule_truth(parsed[0], parsed[1], keyword)


def letter_question(kind: str, letter: str) -> str:
    """Canonical text of a letter question (kind: starts, ends, contains)."""
    verb = {"starts": "start with", "ends": "end with", "contains": "contain"}[kind]
    return f'Does the keyword {verb} the letter "{letter.upper()}"?'


def alpha_order_question(word: str) -> str:
    """Canonical text of an alphabetical-order question (yes iff keyword.lower() < word)."""
    return f'Does the keyword (in lowercase) come before "{word.lower()}" in alphabetical order?'


def length_question(n: int) -> str:
    return f"Does the keyword have more than {n} letters?"


def words_question(n: int) -> str:
    return f"Does the keyword consist of more than {n} word{'s' if n != 1 else ''}?"


# -- the environment's guess check, reproduced so candidate recall is measured the way games are scored
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_guess(s: str) -> str:
    """kaggle-environments' normalisation: lowercase, every "the" and space deleted, punctuation dropped."""
    return s.lower().replace("the", "").replace(" ", "").translate(_PUNCT)


def same_keyword(a: str, b: str) -> bool:
    """True when the environment would accept guess ``a`` for keyword ``b`` (plurals tolerated).

    >>> same_keyword("The Apron", "aprons")
    True
    """
    a, b = normalize_guess(a), normalize_guess(b)
    if a == b:
        return True
    if len(a) < 3 or len(b) < 3:
        return False
    return (a[-1] == "s" and a[:-1] == b) or (b[-1] == "s" and a == b[:-1]) or (
        a[-2:] == "es" and a[:-2] == b) or (b[-2:] == "es" and a == b[:-2])
