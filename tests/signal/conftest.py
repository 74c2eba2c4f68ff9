"""Fixtures for signal-model tests: sktime's PLAID appliance currents as a real competition.

Tests skip with the reason when torch/timm/lightning/librosa/PyWavelets or sktime (PLAID) are
missing; CI installs them with ``pip install 'medalist[signal]'``.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

for _pkg in ("torch", "timm", "lightning", "librosa", "pywt"):
    if importlib.util.find_spec(_pkg) is None:
        pytest.skip(f"{_pkg} not installed: pip install 'medalist[signal]'", allow_module_level=True)

from medalist.datasets.plaid import plaid_dir  # noqa: E402

needs_plaid = pytest.mark.skipif(plaid_dir() is None, reason="PLAID missing: pip install sktime")

VOTES = [f"vote_{c}" for c in range(11)]
KEEP = "columns: {keep: [current, " + ", ".join(VOTES) + "]}\n"

# Three small branches on 256-sample crops: ~1 s per epoch per fold on one CPU core.
SIGNAL_CONFIG = """\
model:
  name: signal
  params:
    signals: {columns: [current]}
    sample_rate: 30000
    length: 256
    pad: wrap
    epochs: 6
    batch_size: 32
    lr: 0.01
    branches:
      - {name: wave, input: raw, hidden: 16, layers: 3}
      - {name: stft, input: stft, n_fft: 32, hop: 8, backbone: test_efficientnet, img_size: 32}
      - {name: rms, input: rms, n_fft: 16, hop: 8, hidden: 16}
""" + KEEP + "threads: 1\nseeds: [0]\n"


@pytest.fixture(autouse=True)
def _torch_threads():
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def plaid_template(tmp_path_factory) -> Path:
    """A PLAID workspace: 1,054 train rows (stratified 3 folds), 20 test rows, simulated votes."""
    if plaid_dir() is None:
        pytest.skip("PLAID missing: pip install sktime")
    from medalist.datasets.plaid import make_plaid_workspace

    root = tmp_path_factory.mktemp("plaid") / "plaid"
    make_plaid_workspace(root, k=3, n_test=20)
    return root


@pytest.fixture
def plaid_ws(plaid_template, tmp_path, monkeypatch):
    """A fresh copy of the PLAID workspace; the test runs inside it."""
    from medalist.workspace.paths import Workspace

    root = tmp_path / "plaid"
    shutil.copytree(plaid_template, root, symlinks=True)
    monkeypatch.chdir(root)
    return Workspace.open(root)
