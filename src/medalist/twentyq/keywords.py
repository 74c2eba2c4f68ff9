"""The public keyword list of kaggle-environments 1.18.0, read without importing the environment.

Importing ``kaggle_environments`` loads every environment (torch, open_spiel…); the list is a JSON
string in ``envs/llm_20_questions/keywords.py``, so it is parsed from that file directly.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Keyword", "env_keywords", "is_held_out", "split_keywords"]


@dataclass(frozen=True)
class Keyword:
    keyword: str
    category: str = "things"
    alts: tuple[str, ...] = field(default_factory=tuple)


def _keywords_file() -> Path:
    from medalist.core.errors import MissingDependencyError

    spec = importlib.util.find_spec("kaggle_environments")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("kaggle-environments", "twentyq", purpose="the public keyword list")
    return Path(list(spec.submodule_search_locations)[0]) / "envs" / "llm_20_questions" / "keywords.py"


def env_keywords(category: str | None = "things") -> list[Keyword]:
    """Unique public keywords (lowercase-deduplicated, alternatives merged), in file order.

    >>> kws = env_keywords()
    >>> len(kws), kws[0]
    (578, Keyword(keyword='Advertisement', category='things', alts=()))
    """
    tree = ast.parse(_keywords_file().read_text(encoding="utf-8"))
    raw = next(
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "KEYWORDS_JSON"
    )
    seen: dict[str, Keyword] = {}
    for cat in json.loads(raw):
        if category is not None and cat["category"] != category:
            continue
        for w in cat["words"]:
            key = w["keyword"].lower()
            if key in seen:
                old = seen[key]
                seen[key] = Keyword(old.keyword, old.category, tuple(dict.fromkeys(old.alts + tuple(w["alts"]))))
            else:
                seen[key] = Keyword(w["keyword"], cat["category"], tuple(w["alts"]))
    return list(seen.values())


def is_held_out(keyword: str) -> bool:
    """The recall split: sha1(lowercase keyword) % 5 == 0 is held out.

    >>> is_held_out("Apple pie") in (True, False)
    True
    """
    return int(hashlib.sha1(keyword.lower().encode("utf-8")).hexdigest(), 16) % 5 == 0


def split_keywords(keywords: list[Keyword]) -> tuple[list[Keyword], list[Keyword]]:
    """(train, held_out) by :func:`is_held_out`."""
    train = [k for k in keywords if not is_held_out(k.keyword)]
    held = [k for k in keywords if is_held_out(k.keyword)]
    return train, held
