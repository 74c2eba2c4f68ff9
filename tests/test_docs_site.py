"""The documentation site (mkdocs.yml): it builds with warnings as errors, its CLI reference is
generated from the Typer app and lists every command and option, doctest examples render as code,
and the README sections the site includes are marked."""

from __future__ import annotations

import doctest
import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import pytest
import typer

ROOT = Path(__file__).resolve().parents[1]
HOOKS = ROOT / "docs" / "hooks"


def _hook(name: str):
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _walk(command, path=("medalist",)):
    """(command path, command) for every command of the click tree, the root included."""
    yield " ".join(path), command
    if hasattr(command, "list_commands"):
        for name in command.list_commands(None):
            yield from _walk(command.get_command(None, name), (*path, name))


def test_site_builds_strict_with_no_warning(tmp_path):
    for mod in ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_jupyter"):
        pytest.importorskip(mod, reason="the docs extra is not installed: pip install -e '.[docs]'")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert not [line for line in out.splitlines() if "WARNING" in line], out[-5000:]
    site = tmp_path / "site"
    cli = (site / "reference" / "cli" / "index.html").read_text()
    for sub in ("train", "submit", "folds", "lb sync", "postprocess threshold"):
        assert f"medalist {sub}</code>" in cli, sub
    api = (site / "reference" / "api" / "index.html").read_text()
    assert 'href="cv/#medalist.cv.runner.train.train"' in api  # the lazy export links to its definition
    home = html.unescape(re.sub(r"<[^>]+>", "", (site / "index.html").read_text()))
    assert 'pip install -e ".[all]" && medalist demo' in home  # README's set-up, included
    assert (site / "quickstart" / "index.html").is_file()
    # a page's link to a repository file outside docs/ resolves to its copy (docs/hooks/repo_links.py)
    assert 'href="../repo/benchmarks/early_stopping.py"' in (site / "early_stopping" / "index.html").read_text()
    assert (site / "repo" / "benchmarks" / "early_stopping.py").read_bytes() == (ROOT / "benchmarks" / "early_stopping.py").read_bytes()


def test_cli_reference_lists_every_command_and_option():
    from medalist.cli.app import app

    text = _hook("cli_reference").cli_markdown()
    root = typer.main.get_command(app)
    n = 0
    for path, command in _walk(root):
        if command.hidden:
            continue
        assert re.search(rf"^#+ `{re.escape(path)}`$", text, re.M), path
        for param in command.params:
            for flag in getattr(param, "opts", []) if param.param_type_name == "option" else []:
                assert flag in text, (path, flag)
        n += 1
    assert n >= 30  # 28 top-level commands, three groups with sub-commands, the root


def test_cli_reference_section_of_a_small_app():
    toy = typer.Typer(name="toy", add_completion=False)

    @toy.command()
    def fit(config: Annotated[Path, typer.Argument(help="A YAML file.")],
            k: Annotated[int, typer.Option("--k", help="Folds | splits.")] = 5,
            dry: Annotated[bool, typer.Option("--dry", help="Print <only>.")] = False) -> None:
        """Fit a model.

        Second paragraph."""

    @toy.command()
    def other() -> None:
        """Another."""

    text = _hook("cli_reference").cli_markdown(typer.main.get_command(toy), prog="toy")
    section = text[text.index("### `toy fit`"):text.index("### `toy other`")]
    assert section.splitlines() == [
        "### `toy fit`", "",
        "Fit a model.", "", "Second paragraph.", "",
        "```text", "toy fit [OPTIONS] {config}", "```", "",
        "| argument / option | help |", "|---|---|",
        "| <code>config &lt;path&gt;</code> | A YAML file. [required] |",
        "| <code>--k &lt;int&gt;</code> | Folds &#124; splits. [default: 5] |",
        "| <code>--dry</code> | Print &lt;only&gt;. |",
        "",
    ]


def test_docstrings_as_markdown():
    mod = _hook("griffe_docstrings")
    result = doctest.testmod(mod)
    assert (result.failed, result.attempted) == (0, 2)
    text = "Intro.\n\n    >>> f(1)\n    [0.0, 0.5]\n    back to text\n\n```python\n>>> fenced already\n```\n>>> x"
    assert mod.fence_doctests(text).splitlines() == [
        "Intro.", "",
        "    ```pycon", "    >>> f(1)", "    [0.0, 0.5]", "    back to text", "    ```", "",
        "```python", ">>> fenced already", "```",
        "```pycon", ">>> x", "```",
    ]
    assert mod.strip_roles(":class:`~medalist.runs.Run` (:meth:`Run.oof`), :foo:`kept`") == "`medalist.runs.Run` (`Run.oof`), :foo:`kept`"


def test_readme_sections_the_site_includes_are_marked():
    readme = (ROOT / "README.md").read_text()
    included = set(re.findall(r'--8<-- "README\.md:(\w+)"', "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))))
    assert included == {"intro", "setup", "loop"}
    for name in included:
        start, end = readme.index(f"<!-- --8<-- [start:{name}] -->"), readme.index(f"<!-- --8<-- [end:{name}] -->")
        assert start < end, name
    # README's two set-up commands are unchanged, inside the included section
    setup = readme[readme.index("[start:setup]"):readme.index("[end:setup]")]
    assert 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[all]" && medalist demo' in setup
    assert ". .venv/bin/activate && python -m pytest -q" in setup


def test_repo_links_hook(tmp_path):
    """A docs page's relative link to a file outside docs/ is copied into the site and still resolves."""
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e '.[docs]'")
    mod = _hook("repo_links")
    result = doctest.testmod(mod)
    assert (result.failed, result.attempted) == (0, 7)
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "size.py").write_text("print(1)\n")
    (tmp_path / "README.md").write_text("# Read me\n")
    (tmp_path / "docs" / "index.md").write_text("# Home\n\n[script](../bench/size.py) and [readme](../README.md#read-me)\n")
    (tmp_path / "docs" / "sub" / "page.md").write_text("# Page\n\n[script](../../bench/size.py) [gone](../../nope.py)\n")
    (tmp_path / "mkdocs.yml").write_text(
        f"site_name: t\nnav: [index.md, sub/page.md]\nhooks: [{HOOKS / 'repo_links.py'}]\n"
        "validation: {links: {not_found: warn}}\n")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    # the one link to a missing file is still reported (and fails the strict build); the others resolve
    assert proc.returncode == 1 and [line for line in out.splitlines() if "WARNING" in line] == [
        "WARNING -  Doc file 'sub/page.md' contains a link '../../nope.py', but the target '../nope.py' is not found among documentation files."
    ], out
    (tmp_path / "docs" / "sub" / "page.md").write_text("# Page\n\n[script](../../bench/size.py)\n")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    site = tmp_path / "site"
    assert (site / "repo" / "bench" / "size.py").read_text() == "print(1)\n"
    assert (site / "repo" / "README.md").read_text() == "# Read me\n"  # copied as text, not rendered
    assert 'href="repo/bench/size.py"' in (site / "index.html").read_text()
    assert 'href="repo/README.md#read-me"' in (site / "index.html").read_text()
    assert 'href="../../repo/bench/size.py"' in (site / "sub" / "page" / "index.html").read_text()
