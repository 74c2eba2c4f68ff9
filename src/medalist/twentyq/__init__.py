"""LLM 20 Questions agent: candidate keywords with a prior, a question bank,
p(yes | question, keyword), a Bayesian entropy-minimising guesser with the Agent-Alpha handshake, a
rule + model answerer, a kaggle-environments harness and Kaggle submission packaging.

Heavy pieces (kaggle-environments, sentence-transformers, transformers) load lazily.
"""

from __future__ import annotations

from .agent import make_agent
from .answerer import Answerer
from .guesser import Guesser
from .package import package_submission
from .rules import ALPHA_QUESTION, parse_rule, rule_answer, same_keyword

__all__ = ["Answerer", "Guesser", "make_agent", "package_submission", "ALPHA_QUESTION", "parse_rule",
           "rule_answer", "same_keyword"]
