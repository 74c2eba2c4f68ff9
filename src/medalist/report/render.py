"""Jinja2 for the report: the page template and the small HTML parts (tables, notes, figures) the sections use.

Autoescape is on everywhere: run ids, notes and messages are user text. Section builders call the macros
of ``parts.html.j2`` from Python (their results are :class:`~markupsafe.Markup`) and join them with
:func:`join`, so nothing is escaped twice and nothing unescaped slips in.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import jinja2
from markupsafe import Markup

__all__ = ["Markup", "join", "parts", "table", "render_page"]


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("medalist.report", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def parts():
    """The macros of ``parts.html.j2``: ``table``, ``note``, ``figure``, ``reading``, ``run_heading``."""
    return _env().get_template("parts.html.j2").module


def join(pieces) -> Markup:
    """Concatenate rendered pieces (Markup, or plain text that gets escaped)."""
    return Markup("").join(pieces)


def table(headers: list[str], rows: list[list[Any]], cls: str = "") -> Markup:
    """An HTML table of ``rows`` (see :func:`_cells` for how values print)."""
    return parts().table(headers, [_cells(r) for r in rows], cls)


def _cells(row: list[Any]) -> list[tuple[str, bool]]:
    """A table row as (text, numeric) cells: floats to 5 decimals, missing or non-finite as ``-``."""
    out = []
    for v in row:
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            out.append(("-", False))
        elif isinstance(v, float):
            out.append((f"{v:.5f}", True))
        else:
            out.append((str(v), False))
    return out


def render_page(**context: Any) -> str:
    """The whole report page (``report.html.j2``)."""
    return _env().get_template("report.html.j2").render(**context)
