"""Write docs/security.md from the red-team tables: every ``tests/security/cases_*.py`` module's CASES.

Run ``python -m tests.security.gen_docs`` after adding a case; a test checks the file is current.
"""

from __future__ import annotations

import importlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOC = HERE.parents[1] / "docs" / "security.md"

INTRO = """\
# Security: what a shared config or bundle cannot do

Configs and bundles are passed between teammates; opening one must not run code on your machine
unless you said so. Each row below is a red-team case, its own test in `tests/security/`: the CLI
exits 2 with a clear error, nothing is written to the workspace, and a canary shows that nothing
ran (no file created, no module imported). The tables are generated from the cases
(`python -m tests.security.gen_docs`); a test fails when this file is stale.

What is protected, and what is not, is written out in [reliability.md](reliability.md#configs-are-data).
"""


def case_modules() -> list[str]:
    """The ``tests.security.cases_*`` module names, in name order."""
    return [f"tests.security.{p.stem}" for p in sorted(HERE.glob("cases_*.py"))]


def render() -> str:
    """The text of docs/security.md."""
    lines = [INTRO]
    total = 0
    for name in case_modules():
        cases = importlib.import_module(name).CASES
        total += len(cases)
        area = name.rpartition("cases_")[2]
        lines += [f"## {area} ({len(cases)} cases)", "", "| case | attack | refused by |", "|---|---|---|"]
        lines += [f"| `{c['id']}` | {_cell(c['attack'])} | {_cell(c['refused_by'])} |" for c in cases]
        lines.append("")
    lines.append(f"{total} cases in all.")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


if __name__ == "__main__":
    DOC.write_text(render())
    print(f"wrote {DOC}")
