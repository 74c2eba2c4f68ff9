"""Every text the package shows is self-contained: no citation of notes users do not have."""

from __future__ import annotations

import re
from pathlib import Path

import medalist

SRC = Path(medalist.__file__).resolve().parent
# internal notes files and their section marks (the report once said 'see TECHNIQUES §3')
CITATION = re.compile(r"TECHNIQUES|§\s*\d|\.\./shared|shared/[A-Z]")


def test_no_source_text_cites_internal_notes():
    hits = []
    for p in SRC.rglob("*"):
        if p.suffix not in (".py", ".j2", ".html", ".md", ".yaml", ".yml", ".txt", ".json"):
            continue
        for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
            if CITATION.search(line):
                hits.append(f"{p.relative_to(SRC)}:{i}: {line.strip()[:100]}")
    assert not hits, hits


def test_report_text_cites_nothing_users_lack(trained_ws):
    from medalist.report.html import build_report

    info = build_report(trained_ws, None, trained_ws.root / "report.html")
    text = re.sub(r"<svg.*?</svg>", "", Path(info["path"]).read_text(), flags=re.DOTALL)
    assert not CITATION.search(text)
    assert "Reading: <b>" in text and "TECHNIQUES" not in text
