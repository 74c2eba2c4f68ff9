"""The runnable examples in the twentyq docstrings stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["rules", "guesser", "answerer", "agent", "bank", "candidates", "keywords", "harness", "bound", "semantic", "semantic_fit", "openworld", "surface"])
def test_docstring_examples(name):
    mod = importlib.import_module(f"medalist.twentyq.{name}")
    res = doctest.testmod(mod)
    assert res.attempted > 0 and res.failed == 0
