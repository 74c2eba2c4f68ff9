"""MkDocs hook: the API reference's front page, generated from what ``import medalist`` exposes.

``medalist/__init__.py`` re-exports the main API lazily (its ``_EXPORTS`` table, which static analysis
cannot follow). This page lists every name in ``medalist.__all__`` with a link to the object where it is
defined (documented on the subpackage pages), so a name added to the package appears here with no edit.
A name whose target is not documented is a broken cross-reference, which fails the strict build.
"""

from __future__ import annotations

import importlib
from typing import Any

PAGE = "reference/api/index.md"


def _target(name: str) -> str:
    """The dotted path where ``medalist.<name>`` is defined (its module and qualified name)."""
    import medalist

    obj = getattr(medalist, name)
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if isinstance(module, str) and module.startswith("medalist.") and qualname:
        return f"{module}.{qualname}"
    # an instance (a registry) has no __qualname__: it is documented in the module that assigns it, the
    # deepest of the medalist modules holding it (a package's __init__ only re-exports it)
    import sys

    holders = [m for m, mod in list(sys.modules.items()) if m.startswith("medalist.") and getattr(mod, name, None) is obj]
    return f"{max(holders, key=lambda m: m.count('.'))}.{name}"


def api_index_markdown() -> str:
    """The page: the package docstring, then one table row per public name with its link."""
    medalist = importlib.import_module("medalist")
    rows = [f"| [`{name}`][{_target(name)}] | `{_target(name).rsplit('.', 1)[0]}` |" for name in medalist.__all__]
    return "\n".join([
        "# API reference",
        "",
        "::: medalist",
        "    options:",
        "      show_root_heading: false",
        "      show_submodules: false",
        "      members: false",
        "",
        "## `import medalist`",
        "",
        "The names the package itself exposes (imported on first use). Each subpackage's page documents the rest.",
        "",
        "| name | defined in |",
        "|---|---|",
        *rows,
        "",
    ])


def on_files(files: Any, config: Any) -> Any:
    """MkDocs event: add the generated page to the site's files (before the nav is built)."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=api_index_markdown()))
    return files
