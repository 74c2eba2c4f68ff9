"""The answerer: exact rules for lexical questions, an AnswerModel for everything else.

Always returns "yes" or "no" (the environment ends the game against an answerer that says anything
else), whatever the question looks like.
"""

from __future__ import annotations

from typing import Protocol

from .rules import rule_answer

__all__ = ["Answerer", "AnswerModelLike", "TableAnswerModel"]


class AnswerModelLike(Protocol):
    def p_yes(self, questions: list[str], keywords: list[str]) -> "object":  # ndarray (len(q), len(k))
        ...


class TableAnswerModel:
    """p(yes) looked up in a precomputed (question × keyword) matrix; unknown pairs get ``default``.

    >>> m = TableAnswerModel(["Is it food?"], ["apple"], [[0.9]])
    >>> float(m.p_yes(["Is it food?"], ["Apple"])[0][0]), float(m.p_yes(["Is it red?"], ["apple"])[0][0])
    (0.9, 0.0)
    """

    name = "table"

    def __init__(self, questions, keywords, matrix, default: float = 0.0) -> None:
        self._q = {q.strip().lower(): i for i, q in enumerate(questions)}
        self._k = {k.strip().lower(): j for j, k in enumerate(keywords)}
        self._m = matrix
        self.default = default

    def p_yes(self, questions, keywords):
        out = []
        for q in questions:
            i = self._q.get(str(q).strip().lower())
            row = []
            for k in keywords:
                j = self._k.get(str(k).strip().lower())
                row.append(self.default if i is None or j is None else float(self._m[i][j]))
            out.append(row)
        return out


class Answerer:
    """Answer a question about ``keyword``.

    >>> Answerer().answer('Does the keyword begin with the letter "b"?', "Bagpipes")
    'yes'
    >>> Answerer().answer("Is it alive?", "Bagpipes")      # no model: a safe "no"
    'no'
    """

    def __init__(self, model: AnswerModelLike | None = None, threshold: float = 0.5) -> None:
        self.model = model
        self.threshold = threshold

    def answer(self, question, keyword) -> str:
        try:
            q = str(question or "")
            kw = str(keyword or "")
            if not kw:
                return "no"
            exact = rule_answer(q, kw)
            if exact is not None:
                return "yes" if exact else "no"
            if self.model is not None and q.strip():
                p = float(self.model.p_yes([q], [kw])[0][0])
                return "yes" if p > self.threshold else "no"
        except Exception:  # never let an answerer error reach the environment
            pass
        return "no"
