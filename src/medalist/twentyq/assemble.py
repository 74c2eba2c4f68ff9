"""Assemble a guesser from its parts: candidates + prior, rule bank, optional semantic bank.

The semantic bank's p(yes) matrix comes from an AnswerModel (default: the offline MiniLM
similarity) and is cached on disk (``$MEDALIST_CACHE`` or ``~/.cache/medalist``/twentyq).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np

from .bank import build_bank, read_questions, rule_questions
from .errors import TwentyQArgumentError
from .guesser import Guesser

__all__ = ["cache_dir", "make_guesser", "load_candidates", "semantic_bank", "SHIPPED_CANDIDATES"]

SHIPPED_CANDIDATES = "candidates.tsv.gz"


def cache_dir() -> Path:
    return Path(os.environ.get("MEDALIST_CACHE", Path.home() / ".cache" / "medalist")) / "twentyq"


def semantic_bank(words: list[str], *, model=None, questions: list[str] | None = None,
                  dedup_threshold: float = 0.9) -> tuple[list[str], np.ndarray]:
    """(semantic questions deduplicated, their p(yes) matrix over ``words``), cached on disk."""
    from .models import EmbeddingAnswerModel, p_matrix

    model = model or EmbeddingAnswerModel()
    qs = read_questions() if questions is None else questions
    embedder = model if hasattr(model, "encode") else None
    bank = build_bank(qs, embedder=embedder, threshold=dedup_threshold)[len(rule_questions()):]
    return bank, p_matrix(model, bank, words, cache_dir())


def load_candidates(source: str = "shipped") -> tuple[list[str], np.ndarray]:
    """Candidate words and prior: 'shipped' (data/candidates.tsv.gz), 'env' (uniform over the public
    keywords) or a TSV path (word<TAB>prior[<TAB>source])."""
    from medalist.core.errors import DataError

    from .candidates import CandidateList

    if source == "env":
        from .keywords import env_keywords

        words = [k.keyword for k in env_keywords()]
        return words, np.full(len(words), 1.0 / len(words))
    if source == "shipped":
        ref = resources.files("medalist.twentyq").joinpath("data", SHIPPED_CANDIDATES)
        with resources.as_file(ref) as p:
            if not Path(p).exists():
                raise DataError(str(p), expected="the shipped candidate list", found="no such file",
                                fix="medalist twentyq candidates --all-keywords --out " + str(p))
            cl = CandidateList.load(p)
        return cl.words, cl.prior
    p = Path(source)
    if not p.is_file():
        raise DataError(source, expected="'shipped', 'env' or a TSV file (word<TAB>prior)", found="no such file")
    try:
        cl = CandidateList.load(p)
    except ValueError as e:
        raise DataError(source, expected="lines 'word<TAB>prior<TAB>source'", found=str(e)) from e
    return cl.words, cl.prior


def make_guesser(words: list[str], prior=None, *, eps: float = 0.1, handshake: bool = False,
                 semantic: bool = False, model=None) -> Guesser:
    """A guesser over ``words`` with the rule bank (+ the semantic bank when ``semantic``)."""
    bank, bank_p = rule_questions(), None
    if semantic:
        sem, P = semantic_bank(words, model=model)
        # rule rows are NaN: the guesser answers rule questions exactly and ignores those rows
        bank_p = np.vstack([np.full((len(bank), len(words)), np.nan), P])
        bank = bank + sem
    try:
        return Guesser(words, prior, bank=bank, bank_p=bank_p, eps=eps, handshake=handshake)
    except ValueError as e:  # the Guesser ships without medalist, so it can only raise plain ValueErrors
        raise TwentyQArgumentError("candidate keywords", expected="a non-empty list with one prior per word",
                                   found=str(e), fix="check the candidates file (word<TAB>prior) and --limit") from e
