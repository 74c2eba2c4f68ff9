"""The same config on the same data and folds gives byte-identical OOF and test predictions on CPU.

GPU training is not covered: cuDNN/cuBLAS kernels and atomics make image models differ in the last
bits between runs unless deterministic algorithms are forced (see docs/reliability.md).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from medalist.cv.runner import train

CONFIGS = {
    "lightgbm": "model: {name: lightgbm, params: {learning_rate: 0.1, num_leaves: 15, verbosity: -1}, "
                "early_stopping_rounds: 20, num_boost_round: 100}\nthreads: 2\nseeds: [1, 2]\n",
    "xgboost": "model: {name: xgboost, params: {eta: 0.1, max_depth: 4}, early_stopping_rounds: 20, num_boost_round: 200}\nthreads: 2\n",
    "catboost": "model: {name: catboost, params: {learning_rate: 0.1, depth: 4}, early_stopping_rounds: 20, num_boost_round: 100}\nthreads: 2\n",
    "sklearn": "model: {name: 'sklearn:sklearn.ensemble.HistGradientBoostingClassifier', params: {max_iter: 30, random_state: 0}}\nthreads: 1\n",
    "features": "model: {name: lightgbm, params: {verbosity: -1}, num_boost_round: 50}\nthreads: 2\nfeatures:\n"
                "  - {block: group_agg, columns: [age], by: [[clinic_name]], stats: [mean, std]}\n"
                "  - {block: target_encode, columns: [clinic_name, payor_group], smoothing: 10}\n",
}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_same_config_twice_gives_identical_oof_and_test_bytes(covid_ws, name):
    if name in ("xgboost", "catboost"):
        pytest.importorskip(name)
    cfg = covid_ws.root / "configs" / f"{name}.yaml"
    cfg.write_text(CONFIGS[name])
    a = train(covid_ws, cfg, tracking=False)
    b = train(covid_ws, cfg, tracking=False)
    assert a.id != b.id
    for f in ("oof.parquet", "test.parquet"):
        assert digest(a.path / f) == digest(b.path / f), f"{name}: {f} differs between identical runs"
    assert a.metrics["oof"] == b.metrics["oof"]
