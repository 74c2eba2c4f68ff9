"""Surface forms of a 20 Questions keyword: every spelling the environment would accept, as one group.

Alphabetical questions are answered on the keyword's own string, so "Tool Box" must be reachable
though the WordNet lemma is "toolbox": a candidate is the group of its singular / plural and space /
hyphen / joined spellings. Also the reader of a user's keyword file.
"""

from __future__ import annotations

import re
from pathlib import Path

from .rules import normalize_guess

__all__ = ["FORMS", "plural", "read_keyword_file", "surface_forms"]

FORMS = ("base", "plural", "alt", "alt_plural")
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")
_VOWELS = set("aeiou")


def plural(word: str) -> str:
    """English plural of the last word (regular rules).

    >>> [plural(w) for w in ("mask", "box", "battery", "key", "bus", "tool box")]
    ['masks', 'boxes', 'batteries', 'keys', 'buses', 'tool boxes']
    """
    if not word:
        return word
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in _VOWELS:
        return word[:-1] + "ies"
    return word + "s"


def surface_forms(phrase: str, split: str | None = None) -> dict[str, str]:
    """lowercase surface string → its kind (base, plural, alt, alt_plural), distinct strings only.

    ``alt`` are the other spellings of a compound: hyphen / space / joined; ``split`` gives the parts
    of a one-word compound ("tool box" for "toolbox").

    >>> surface_forms("tool box")
    {'tool box': 'base', 'tool boxes': 'plural', 'tool-box': 'alt', 'tool-boxes': 'alt_plural', 'toolbox': 'alt', 'toolboxes': 'alt_plural'}
    >>> surface_forms("mask")
    {'mask': 'base', 'masks': 'plural'}
    >>> list(surface_forms("toolbox", split="tool box"))
    ['toolbox', 'toolboxes', 'tool box', 'tool boxes', 'tool-box', 'tool-boxes']
    """
    base = " ".join(phrase.lower().split())
    out: dict[str, str] = {}
    if not base:
        return out
    pl = not base.endswith("s") or base.endswith(("ss", "us", "is"))

    def put(s: str, kind: str) -> None:
        if s not in out:
            out[s] = kind
            if pl:
                out.setdefault(plural(s), "plural" if kind == "base" else "alt_plural")

    put(base, "base")
    parts = re.split(r"[ -]", split or base)
    if len(parts) > 1 and all(parts):
        for sep in (" ", "-", ""):
            put(sep.join(parts), "alt")
    return out


def _form_of(keyword: str, phrase: str, split: str | None = None) -> str:
    """Which kind of form of ``phrase`` the written ``keyword`` is (for the form shares)."""
    kw = " ".join(keyword.lower().split())
    return surface_forms(phrase, split).get(kw, "base")


def read_keyword_file(path: Path | str) -> list[str]:
    """Keywords, one a line: blank lines skipped, duplicates (case-insensitive) dropped; a line
    that is not printable ASCII or over 100 characters is an error naming the file and line.

    The environment compares guesses after lowercasing and dropping punctuation, spaces and "the",
    so two lines equal under that normalisation are one keyword.
    """
    from medalist.core.errors import DataError

    p = Path(path)
    if not p.is_file():
        raise DataError(str(p), expected="a text file with one keyword a line", found="no such file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(str(p), expected="UTF-8 text, one keyword a line", found=f"undecodable bytes ({e.reason})") from e
    out: list[str] = []
    seen: set[str] = set()
    for i, line in enumerate(text.splitlines(), 1):
        kw = " ".join(line.split())
        if not kw:
            continue
        if not kw.isascii() or not kw.isprintable():
            raise DataError(f"{p}:{i}", expected="a keyword in printable ASCII (the environment's keywords are)",
                            found=repr(kw[:60]), fix="transliterate it (e.g. 'Creme brulee') or remove the line")
        if len(kw) > 100:
            raise DataError(f"{p}:{i}", expected="a keyword of at most 100 characters (the guess limit)",
                            found=f"{len(kw)} characters")
        key = normalize_guess(kw)
        if not key:
            raise DataError(f"{p}:{i}", expected="a keyword with letters", found=repr(kw))
        if key not in seen:
            seen.add(key)
            out.append(kw)
    if not out:
        raise DataError(str(p), expected="at least one keyword", found="only blank lines")
    return out
