"""docs/extending.md: every ```python block is a self-contained example, run here so the docs cannot rot.

Each block runs in a fresh namespace; the registries are restored afterwards, so the components an
example registers do not leak into other tests (e.g. a `medalist list` output).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
_BLOCK = re.compile(r"^## (?P<title>.+?)$|^```python\n(?P<code>.*?)^```$", re.S | re.M)


def _blocks() -> list[tuple[str, str]]:
    out, title = [], "intro"
    for m in _BLOCK.finditer(DOC.read_text()):
        if m.group("title"):
            title = m.group("title").strip()
        else:
            out.append((title, m.group("code")))
    return out


BLOCKS = _blocks()


def test_every_kind_has_an_example():
    titles = {t for t, _ in BLOCKS}
    assert {"A metric", "A model", "A feature block", "A blender", "A stacker", "A candidate generator",
            "A signal front-end"} <= titles


@pytest.fixture
def restored_registries():
    from medalist.ensemble.blend import BLENDERS
    from medalist.ensemble.stack import META
    from medalist.features import FEATURES
    from medalist.metrics import METRICS
    from medalist.models import MODELS
    from medalist.recsys.candidates import GENERATORS
    from medalist.signal.config import FRONTENDS

    regs = [METRICS, MODELS, FEATURES, BLENDERS, META, GENERATORS, FRONTENDS]
    saved = [(dict(r._entries), dict(r._lazy)) for r in regs]
    yield
    for r, (entries, lazy) in zip(regs, saved):
        r._entries.clear()
        r._entries.update(entries)
        r._lazy.clear()
        r._lazy.update(lazy)


@pytest.mark.parametrize("title,code", BLOCKS, ids=[t for t, _ in BLOCKS])
def test_example_runs(title, code, restored_registries):
    with warnings.catch_warnings():
        # an example must not clash with a registered name
        warnings.filterwarnings("error", message=".*is already registered")
        exec(compile(code, f"{DOC.name}: {title}", "exec"), {"__name__": f"extending_{title}"})
