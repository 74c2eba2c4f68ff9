"""MkDocs hook: a page's relative link to a repository file outside ``docs/`` stays valid in the site.

In the repository, ``docs/x.md`` may link to ``../benchmarks/report_size.py`` or ``../README.md``, which
GitHub follows but which lie outside MkDocs' ``docs_dir`` (a warning, so a failed strict build). This
hook copies each such file, as it is, into the site under ``repo/`` (``repo/benchmarks/report_size.py``;
Markdown files too are copied as text, not rendered as pages) and points the link there, anchor kept.
Links to missing files are left alone, so MkDocs still reports them.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

PREFIX = "repo"
# [text](target#anchor "title"): the target group stops at whitespace, '#' and ')'
LINK = re.compile(r"(?P<head>\]\()(?P<target>[^)\s#<>]+)(?P<tail>(?:#[^)\s]*)?(?:\s+\"[^\"]*\")?\))")


def outside_targets(markdown: str, page_uri: str, docs_dir: Path, root: Path) -> dict[str, str]:
    """{link target as written: its path in the repository} for the page's relative links to existing
    repository files outside ``docs_dir``.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp()); (root / "docs").mkdir(); (root / "bench.py").write_text("")
    0
    >>> outside_targets("[b](../bench.py#L3) [c](other.md) [d](../gone.py) [e](https://x.org/a.py)",
    ...                 "guide.md", root / "docs", root)
    {'../bench.py': 'bench.py'}
    """
    found = {}
    docs_dir, root = docs_dir.resolve(), root.resolve()
    for m in LINK.finditer(markdown):
        target = m.group("target")
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("/"):
            continue  # a URL, or an absolute path
        path = ((docs_dir / page_uri).parent / target).resolve()
        if not path.is_relative_to(docs_dir) and path.is_relative_to(root) and path.is_file():
            found[target] = path.relative_to(root).as_posix()
    return found


def rewrite(markdown: str, page_uri: str, docs_dir: Path, root: Path) -> str:
    """``markdown`` with each link from :func:`outside_targets` pointing at its copy under ``repo/``.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp()); (root / "docs").mkdir(); (root / "bench.py").write_text("")
    0
    >>> rewrite("see [b](../bench.py#L3)", "guide.md", root / "docs", root)
    'see [b](repo/bench.py#L3)'
    >>> rewrite("see [b](../../bench.py)", "sub/guide.md", root / "docs", root)
    'see [b](../repo/bench.py)'
    """
    targets = outside_targets(markdown, page_uri, docs_dir, root)
    page_dir = posixpath.dirname(page_uri)

    def swap(m: re.Match) -> str:
        rel = targets.get(m.group("target"))
        if rel is None:
            return m.group(0)
        return m.group("head") + posixpath.relpath(f"{PREFIX}/{rel}", page_dir or ".") + m.group("tail")

    return LINK.sub(swap, markdown)


def _root(config: Any) -> Path:
    return Path(config.config_file_path).resolve().parent


def on_files(files: Any, config: Any) -> Any:
    """MkDocs event: add a copy of every repository file the pages link to from outside ``docs/``."""
    from mkdocs.structure.files import File

    class RepoFile(File):
        def is_documentation_page(self) -> bool:  # a copied README.md is served as text, not a page
            return False

    docs_dir, root = Path(config.docs_dir), _root(config)
    wanted: set[str] = set()
    for f in files.documentation_pages():
        if f.abs_src_path and Path(f.abs_src_path).is_file():
            wanted.update(outside_targets(Path(f.abs_src_path).read_text(), f.src_uri, docs_dir, root).values())
    for rel in sorted(wanted):
        files.append(RepoFile.generated(config, f"{PREFIX}/{rel}", abs_src_path=str(root / rel)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: point the page's links to outside files at their copies."""
    return rewrite(markdown, page.file.src_uri, Path(config.docs_dir), _root(config))
