"""Fixtures for image-model tests: a real Fashion-MNIST competition (Debian's dataset-fashion-mnist).

Tests skip with the reason when torch/timm/lightning/albumentations or the dataset are missing; CI
installs both (`.ci/run`).
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from medalist.datasets.fashion import FASHION_DIR

for _pkg in ("torch", "timm", "lightning", "albumentations"):
    if importlib.util.find_spec(_pkg) is None:
        pytest.skip(f"{_pkg} not installed: pip install 'medalist[vision]'", allow_module_level=True)

needs_fashion = pytest.mark.skipif(
    not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST missing: apt-get install -y dataset-fashion-mnist",
)

# timm's tiny test_efficientnet on 32 px grayscale: ~4 s per epoch of 1200 images on one CPU core.
IMG_CONFIG = """\
model:
  name: timm_image
  params:
    backbone: test_efficientnet
    lr: 0.01
    in_chans: 1
    img_size: 32
    epochs: 2
    batch_size: 64
    images: {pattern: "{id}.png", dirs: [data/images]}
    aux: [{col: is_top, loss: bce, weight: 0.1}]
    augment: [{name: HorizontalFlip, p: 0.5}]
    tta: {hflip: true}
    log_samples: 8
columns: {keep: [is_top]}
threads: 1
seeds: [42]
"""


@pytest.fixture(autouse=True)
def _torch_threads():
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def fashion_template(tmp_path_factory) -> Path:
    """A Fashion-MNIST workspace: 1800 train / 200 test PNGs, stratified 3 folds, tracking off."""
    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST missing: apt-get install -y dataset-fashion-mnist")
    from medalist.datasets.fashion import make_fashion_workspace

    root = tmp_path_factory.mktemp("fm") / "fashion"
    make_fashion_workspace(root, n_train=1800, n_test=200, k=3)
    (root / "configs" / "img.yaml").write_text(IMG_CONFIG)
    return root


@pytest.fixture
def fashion_ws(fashion_template, tmp_path, monkeypatch):
    """A fresh copy of the Fashion-MNIST workspace (images shared by symlink); the test runs inside it."""
    from medalist.workspace.paths import Workspace

    root = tmp_path / "fashion"
    shutil.copytree(fashion_template, root, symlinks=True)
    monkeypatch.chdir(root)
    return Workspace.open(root)
