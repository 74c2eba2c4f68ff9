"""The error twentyq's Python API raises for a bad argument.

The runtime modules shipped inside a Kaggle agent (rules, guesser, answerer, agent) must import
nothing from medalist, so they raise plain ValueErrors; the code around them (harness, bound,
assemble) turns bad input into this error, which the CLI prints like any MedalistError.
"""

from __future__ import annotations

from medalist.core.errors import ConfigError

__all__ = ["TwentyQArgumentError"]


class TwentyQArgumentError(ConfigError, ValueError):
    """A bad argument to the twentyq harness, bench or bound.

    Also a ValueError, so callers that caught the plain ValueError these functions used to raise
    keep working.

    >>> isinstance(TwentyQArgumentError("n", expected="a positive number", found="0"), ValueError)
    True
    """
