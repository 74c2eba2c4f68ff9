"""Run graphs of two code-competition shapes, trained once per module through the public Python API.

* ``isic_chain``: the ISIC-2024-shaped competition of :mod:`medalist.datasets.isic` (Fashion-MNIST
  lesions + patient metadata, pAUC): timm image run -> LightGBM (the image run's OOF rank, per-patient
  statistics, target encodings, ``model_selection_by`` the hospital) -> XGBoost -> hill-climb blend.
* ``hms_chain``: the HMS-shaped PLAID competition (ragged current signals, simulated annotator votes):
  a signal run trained on the vote distributions, a LightGBM on waveform summaries, a logistic stack.

Both skip (with the reason) when the vision/signal extras or the bundled datasets are missing. The
fixtures record their wall time in ``SECONDS`` (``pytest --durations=0`` shows it too).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import time
from pathlib import Path

import pytest

SECONDS: dict[str, float] = {}

ISIC_ROWS = {"n_train": 1200, "n_test": 400, "seed": 0}

VOTES = [f"vote_{c}" for c in range(11)]

# Two small branches on 256-sample crops, soft labels from the votes (HMS: KL to the vote distribution).
SIGNAL_CONFIG = f"""\
model:
  name: signal
  params:
    signals: {{columns: [current]}}
    sample_rate: 30000
    length: 256
    pad: wrap
    epochs: 4
    batch_size: 32
    lr: 0.01
    votes: [{", ".join(VOTES)}]
    branches:
      - {{name: wave, input: raw, hidden: 16, layers: 3}}
      - {{name: rms, input: rms, n_fft: 16, hop: 8, hidden: 16}}
columns: {{keep: [current, {", ".join(VOTES)}]}}
threads: 1
seeds: [0]
"""

# The second model: LightGBM on summaries of the (kept, never a feature) waveform column.
SUMMARY_CONFIG = f"""\
model:
  name: lightgbm
  params: {{learning_rate: 0.05, num_leaves: 15, min_child_samples: 10, verbosity: -1, deterministic: true}}
  early_stopping_rounds: 30
  num_boost_round: 400
columns: {{keep: [current], drop: [{", ".join(VOTES)}]}}
features:
  - {{block: expr, name: n_samples, sql: "array_length(current)"}}
  - {{block: expr, name: mean_current, sql: "array_mean(current)"}}
  - {{block: expr, name: max_current, sql: "array_upper(current)"}}
  - {{block: expr, name: min_current, sql: "array_lower(current)"}}
  - {{block: expr, name: peak_to_peak, sql: "array_upper(current) - array_lower(current)"}}
threads: 1
seeds: [42]
"""


def _require(*packages: str) -> None:
    for p in packages:
        if importlib.util.find_spec(p) is None:
            pytest.skip(f"{p} not installed: pip install 'medalist[vision,signal,gbdt]'")


@contextlib.contextmanager
def _inside(root: Path):
    """Run inside the workspace (image/signal paths are relative to it) with one torch thread."""
    import torch

    cwd, threads = os.getcwd(), torch.get_num_threads()
    os.chdir(root)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        os.chdir(cwd)
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def isic_chain(tmp_path_factory):
    """(workspace, {"image", "lgbm", "xgb", "blend": run id}) of the ISIC-shaped chain, 1,200/400 rows."""
    _require("torch", "timm", "lightning", "albumentations", "lightgbm", "xgboost")
    from medalist.datasets.fashion import FASHION_DIR

    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST missing: apt-get install -y dataset-fashion-mnist")
    from medalist.cv.runner import train
    from medalist.datasets.isic import isic_configs, make_isic_workspace
    from medalist.ensemble import blend

    t0 = time.perf_counter()
    root = tmp_path_factory.mktemp("isic") / "isic"
    ws = make_isic_workspace(root, **ISIC_ROWS)
    cfg = root / "configs"
    with _inside(root):
        image = train(ws, cfg / "image.yaml", tracking=False)
        for name, text in isic_configs(image.id).items():  # lgbm/xgb read the image run by its id
            (cfg / name).write_text(text)
        lgbm = train(ws, cfg / "lgbm.yaml", tracking=False)
        xgb = train(ws, cfg / "xgb.yaml", tracking=False)
        bl = blend(ws, [lgbm.id, xgb.id, image.id], "hill-climb", tracking=False)
    SECONDS["isic_chain"] = time.perf_counter() - t0
    return ws, {"image": image.id, "lgbm": lgbm.id, "xgb": xgb.id, "blend": bl.id}


@pytest.fixture(scope="module")
def hms_chain(tmp_path_factory):
    """(workspace, {"signal", "summary", "stack": run id}) of the PLAID chain (1,054 train rows, 3 folds)."""
    _require("torch", "timm", "lightning", "librosa", "pywt", "lightgbm")
    from medalist.datasets.plaid import make_plaid_workspace, plaid_dir

    if plaid_dir() is None:
        pytest.skip("PLAID missing: pip install sktime")
    from medalist.cv.runner import train
    from medalist.ensemble import stack

    t0 = time.perf_counter()
    root = tmp_path_factory.mktemp("hms") / "plaid"
    ws = make_plaid_workspace(root, k=3, n_test=20)
    cfg = root / "configs"
    (cfg / "signal.yaml").write_text(SIGNAL_CONFIG)
    (cfg / "summary.yaml").write_text(SUMMARY_CONFIG)
    with _inside(root):
        sig = train(ws, cfg / "signal.yaml", tracking=False)
        summ = train(ws, cfg / "summary.yaml", tracking=False)
        st = stack(ws, [sig.id, summ.id], "logistic", tracking=False)
    SECONDS["hms_chain"] = time.perf_counter() - t0
    return ws, {"signal": sig.id, "summary": summ.id, "stack": st.id}
