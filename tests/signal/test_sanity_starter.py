"""`medalist sanity` on a signal config and the `init --signal` starter, on sktime's PLAID currents."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from medalist.core.errors import ConfigError
from tests.conftest import run_medalist
from tests.signal.conftest import SIGNAL_CONFIG, VOTES, needs_plaid

pytestmark = needs_plaid


def test_sanity_overfits_one_batch_of_signals_and_fails_loudly_when_it_cannot(plaid_ws, monkeypatch, capsys):
    Path("configs/signal.yaml").write_text(SIGNAL_CONFIG)
    code, out, err = run_medalist(monkeypatch, capsys, "sanity", "configs/signal.yaml", "--steps", "30")
    assert code == 0, err
    assert "ok: loss on one batch of 16 rows fell" in out and "step   30" in out
    code, out, err = run_medalist(monkeypatch, capsys, "sanity", "configs/signal.yaml", "model.params.lr=0", "--steps", "5")
    assert code == 2 and "sanity check of configs/signal.yaml" in err and "labels vs signals" in err


def test_the_image_check_refuses_a_signal_config_by_name(plaid_ws):
    from medalist.vision.sanity import overfit_one_batch

    Path("configs/signal.yaml").write_text(SIGNAL_CONFIG)
    with pytest.raises(ConfigError, match="picks the signal check for model: signal"):
        overfit_one_batch(plaid_ws, Path("configs/signal.yaml"), steps=2)


def test_signal_starter_passes_sanity_on_plaid_once_its_data_keys_are_set(plaid_ws):
    """The starter as `init --signal` writes it, with only the keys its comments say are about the data."""
    from medalist.signal.sanity import overfit_one_signal_batch

    text = resources.files("medalist").joinpath("workspace/templates/signal.yaml").read_text()
    text = text.replace("columns: [signal]", "columns: [current]").replace("keep: [signal]", f"keep: [current, {', '.join(VOTES)}]")
    text = text.replace("sample_rate: 100 ", "sample_rate: 30000 ")
    Path("configs/starter.yaml").write_text(text)
    res = overfit_one_signal_batch(plaid_ws, Path("configs/starter.yaml"), steps=30)
    assert res["rows"] == 16 and res["ratio"] < 0.5, res
