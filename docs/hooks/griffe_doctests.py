"""Griffe extension for the API reference: doctest examples in docstrings become ``pycon`` code blocks.

medalist's docstrings are prose with doctest examples (``>>> ...`` and the expected output, which
``pytest --doctest-modules`` runs). Read as Markdown, an output line such as ``[0.0, 0.5]`` or
``(0, 265, 133)`` is taken for a link reference, and ``>>>`` lines run together into one paragraph.
This extension fences each run of example lines (the prompts and the output up to the next blank
line) as a ``pycon`` block, at its own indentation, before mkdocstrings renders the docstring. Text
already inside a fenced block is left alone.
"""

from __future__ import annotations

from typing import Any

import griffe

FENCE = "```"


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


class DoctestFences(griffe.Extension):
    """Fence the doctest examples of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
