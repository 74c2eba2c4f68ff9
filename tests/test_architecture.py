"""The house keeps its shape: the layers contract in pyproject.toml holds (no upward imports, no
circles between layers), and the contract itself names every subpackage, so a new room must be placed."""

from __future__ import annotations

import logging
import sys
import tomllib
from pathlib import Path

import pytest

import medalist

ROOT = Path(__file__).resolve().parents[1]
PKG = Path(medalist.__file__).resolve().parent


def _layers() -> list[str]:
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in conf["contracts"] if c["type"] == "layers"]
    return [m.strip() for layer in contract["layers"] for m in layer.split("|")]


@pytest.fixture(autouse=True)
def _loggers_untouched():
    """import-linter's command configures logging with dictConfig, which disables every logger that
    exists; other tests read medalist's warnings from caplog, so put the loggers back."""
    before = {n: lg.disabled for n, lg in logging.root.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    yield
    for n, disabled in before.items():
        logging.getLogger(n).disabled = disabled


def test_every_subpackage_has_a_layer():
    packages = {f"medalist.{p.name}" for p in PKG.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(_layers()), "add the new subpackage to [tool.importlinter] layers in pyproject.toml"
    top_modules = sorted(p.name for p in PKG.glob("*.py") if p.name not in {"__init__.py", "__main__.py"})
    assert top_modules == [], f"modules belong in a layer's folder, found at the top: {top_modules}"


def test_import_contract_is_kept(monkeypatch):
    pytest.importorskip("importlinter", reason="import-linter is in the test extra")
    from importlinter.cli import lint_imports

    monkeypatch.chdir(ROOT)  # lint-imports reads pyproject.toml from the working directory
    monkeypatch.syspath_prepend(str(PKG.parent))
    assert lint_imports(no_cache=True) == 0, "an import breaks the layers contract: run `lint-imports` to see which"


def test_a_planted_upward_import_is_caught(tmp_path, monkeypatch):
    """The contract can fail: a copy of the package with core importing cv breaks it."""
    pytest.importorskip("importlinter", reason="import-linter is in the test extra")
    import shutil

    from importlinter.cli import lint_imports

    copy = tmp_path / "src"
    shutil.copytree(PKG, copy / "medalist", ignore=shutil.ignore_patterns("__pycache__", "data"))
    with open(copy / "medalist" / "core" / "safety.py", "a") as fh:
        fh.write("\nfrom medalist.cv import runner  # planted upward import\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(copy))
    for name in [m for m in sys.modules if m == "medalist" or m.startswith("medalist.")]:
        monkeypatch.delitem(sys.modules, name)
    assert lint_imports(no_cache=True) == 1


MAX_MODULE_LINES = 450  # a module is read in one sitting; split along its seams before it grows past this
MAX_FUNCTION_LINES = 80


def test_modules_and_functions_stay_readable():
    import ast

    big_modules, big_functions = [], []
    for path in PKG.rglob("*.py"):
        text = path.read_text()
        rel = path.relative_to(PKG)
        if text.count("\n") > MAX_MODULE_LINES:
            big_modules.append(f"{rel} ({text.count(chr(10))} lines)")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= MAX_FUNCTION_LINES:
                big_functions.append(f"{rel}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert big_modules == [], f"modules over {MAX_MODULE_LINES} lines: {big_modules}"
    assert big_functions == [], f"functions over {MAX_FUNCTION_LINES} lines: {big_functions}"
