"""Griffe extension for the API reference: docstrings written for doctest and Sphinx read well as Markdown.

medalist's docstrings are prose with doctest examples (``>>> ...`` and the expected output, which
``pytest --doctest-modules`` runs). Read as Markdown, an output line such as ``[0.0, 0.5]`` or
``(0, 265, 133)`` is taken for a link reference, and ``>>>`` lines run together into one paragraph.
This extension fences each run of example lines (the prompts and the output up to the next blank
line) as a ``pycon`` block, at its own indentation, before mkdocstrings renders the docstring. Text
already inside a fenced block is left alone. Sphinx roles (``:func:`x```, ``:mod:`.runner```), which
Markdown would show with their role prefix, become code spans of the name.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

FENCE = "```"
ROLE = re.compile(r":(?:func|meth|class|mod|attr|data|exc|obj|const|ref):`~?([^`]+)`")


def strip_roles(text: str) -> str:
    """Sphinx cross-reference roles as plain code spans.

    >>> strip_roles("see :func:`~medalist.cv.train` and :mod:`.runner`")
    'see `medalist.cv.train` and `.runner`'
    """
    return ROLE.sub(lambda m: f"`{m.group(1)}`", text)


def fence_doctests(text: str) -> str:
    """``text`` with each doctest run (``>>>`` prompts and their output) wrapped in a pycon fence.

    >>> fence_doctests("Text.\\n\\n>>> 1 + 1\\n2\\n\\nMore.").splitlines()
    ['Text.', '', '```pycon', '>>> 1 + 1', '2', '```', '', 'More.']
    """
    out: list[str] = []
    in_fence = in_example = False
    indent = ""
    for line in text.splitlines():
        stripped = line.lstrip()
        if in_example and (not stripped or not line.startswith(indent)):
            out.append(indent + FENCE)
            in_example = False
        if not in_example and stripped.startswith(FENCE):
            in_fence = not in_fence
        elif not in_fence and not in_example and stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            out.append(indent + FENCE + "pycon")
            in_example = True
        out.append(line)
    if in_example:
        out.append(indent + FENCE)
    return "\n".join(out)


class MarkdownDocstrings(griffe.Extension):
    """Fence the doctest examples and plain the Sphinx roles of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = strip_roles(fence_doctests(obj.docstring.value))
