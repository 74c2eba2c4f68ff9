"""The optional-dependency helper: a missing library names its pip extra and the install command."""

from __future__ import annotations

import sys

import pytest

from medalist.core.errors import MedalistError, MissingDependencyError
from medalist.core.optional import available, require


def test_require_returns_the_module():
    import json

    assert require("json", extra="base") is json
    assert require("os.path", extra="base").join("a", "b").endswith("b")


def test_missing_module_names_the_extra_and_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    with pytest.raises(MissingDependencyError) as err:
        require("torch", extra="vision", purpose="the conv1x3 stacker")
    msg = str(err.value)
    assert "package 'torch'" in msg
    assert "the conv1x3 stacker" in msg
    assert "pip install 'medalist[vision]'" in msg
    assert isinstance(err.value, MedalistError) and err.value.extra == "vision"


def test_dotted_module_and_display_name(monkeypatch):
    monkeypatch.setitem(sys.modules, "ensemble_boxes", None)
    monkeypatch.setitem(sys.modules, "ensemble_boxes.ensemble_boxes_wbf", None)  # even if another test imported it
    with pytest.raises(MissingDependencyError, match=r"package 'ensemble-boxes'.*medalist\[recsys\]"):
        require("ensemble_boxes.ensemble_boxes_wbf", extra="recsys", package="ensemble-boxes")


def test_broken_install_is_told_apart(tmp_path, monkeypatch):
    # The package is there but one of its own imports fails: say so instead of "not importable".
    (tmp_path / "medalist_broken_pkg.py").write_text("import medalist_missing_dep_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingDependencyError) as err:
        require("medalist_broken_pkg", extra="plot")
    assert "medalist_missing_dep_xyz" in str(err.value)
    assert "pip install 'medalist[plot]'" in str(err.value)


def test_available(monkeypatch):
    assert available("json")
    assert not available("medalist_no_such_module_xyz")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert not available("matplotlib")
