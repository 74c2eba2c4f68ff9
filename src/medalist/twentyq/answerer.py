"""The answerer: exact rules for lexical questions, an AnswerModel for everything else.

Always returns "yes" or "no" (the environment ends the game against an answerer that says anything
else), whatever the question looks like; a failing answer model is answered "no" and recorded, a bug in
the rules raises.
"""

from __future__ import annotations

import logging
import math
from typing import Protocol

from .rules import rule_answer

__all__ = ["Answerer", "AnswerModelLike", "TableAnswerModel"]

log = logging.getLogger(__name__)


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

    Rules answer exactly; other questions go to the answer model. A failing model is the one
    handled failure (a GPU running out of memory must not end the game): the answer is "no", the
    error is logged and kept in :attr:`model_errors`. A model answer that is not a probability is
    treated the same way. A bug in the rules is not hidden: it raises.

    >>> Answerer().answer('Does the keyword begin with the letter "b"?', "Bagpipes")
    'yes'
    >>> Answerer().answer("Is it alive?", "Bagpipes")      # no model: a safe "no"
    'no'
    """

    def __init__(self, model: AnswerModelLike | None = None, threshold: float = 0.5) -> None:
        self.model = model
        self.threshold = threshold
        self.model_errors: list[str] = []

    def answer(self, question, keyword) -> str:
        q = ("" if question is None else str(question))[:750]  # the environment truncates questions to 750 characters
        kw = "" if keyword is None else str(keyword)
        if not kw.strip():
            return "no"
        exact = rule_answer(q, kw)
        if exact is not None:
            return "yes" if exact else "no"
        if self.model is None or not q.strip():
            return "no"
        try:
            p = float(self.model.p_yes([q], [kw])[0][0])
        except Exception as e:  # the model's failure (OOM, a bad output shape): answered "no", logged, kept
            return self._model_failed(q, f"{type(e).__name__}: {e}")
        if not math.isfinite(p):
            return self._model_failed(q, f"p(yes) = {p}")
        return "yes" if p > self.threshold else "no"

    def _model_failed(self, question: str, why: str) -> str:
        name = getattr(self.model, "name", type(self.model).__name__)
        msg = f"answer model '{name}' failed on {question[:80]!r}: {why}; answered 'no'"
        self.model_errors.append(msg)
        log.warning(msg)
        return "no"
