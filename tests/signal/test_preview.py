"""``medalist signal-preview``: front-end shapes and a PNG grid for the first PLAID rows."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.signal.conftest import SIGNAL_CONFIG, needs_plaid

pytestmark = needs_plaid


def test_signal_preview_cli(plaid_ws, tmp_path):
    from PIL import Image

    from medalist.cli.app import app

    cfg = plaid_ws.root / "configs" / "sig.yaml"
    cfg.write_text(SIGNAL_CONFIG)
    png = tmp_path / "p.png"
    res = CliRunner().invoke(app, ["signal-preview", str(cfg), "--rows", "3", "--out", str(png), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output.strip().splitlines()[-1])
    shapes = {b["name"]: b["shape"] for b in info["branches"]}
    assert info["signal_shape"] == [1, 256]
    assert shapes == {"wave": [1, 256], "stft": [1, 17, 33], "rms": [1, 1, 33]}
    assert Image.open(png).size == (3 * 96, 3 * 96)
    bad = CliRunner().invoke(app, ["signal-preview", str(cfg), "model.params.sr=100"])
    from medalist.core.errors import ConfigError

    assert bad.exit_code != 0 and isinstance(bad.exception, ConfigError)
    assert "unknown key 'sr'" in str(bad.exception) and "sample_rate" in str(bad.exception)
