"""Every registered blender and stacker meets its contract (a new entry is tested once registered)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from medalist.core.errors import ConfigError, MissingDependencyError
from medalist.ensemble.blend import blend_members, get_blender, list_blenders
from medalist.ensemble.members import Members
from medalist.ensemble.stack import MetaSpec, get_stacker, list_stackers, meta_inputs
from medalist.metrics import get_metric

N = 240


def _members(task: str, n_members: int = 3) -> Members:
    rng = np.random.default_rng(0)
    if task == "multiclass":
        y = rng.integers(0, 3, N)
        oof = [rng.dirichlet(np.ones(3), N) * 0.5 + np.eye(3)[y] * 0.5 for _ in range(n_members)]
        metric = get_metric("mlogloss")
    elif task == "regression":
        y = rng.normal(size=N)
        oof = [(y + rng.normal(scale=s, size=N))[:, None] for s in (0.3, 0.6, 1.0)[:n_members]]
        metric = get_metric("rmse")
    else:
        y = rng.integers(0, 2, N)
        oof = [np.clip(0.4 * y + rng.uniform(0, 0.6, N), 0.01, 0.99)[:, None] for _ in range(n_members)]
        metric = get_metric("auc")
    return Members(runs=[SimpleNamespace(id=f"m{i}") for i in range(n_members)],
                   data=SimpleNamespace(task=task, target=["y"], train=pl.DataFrame({"y": y})), metric=metric,
                   oof=oof, test=[p[:20] for p in oof], fold=np.arange(N) % 4, folds_hash="test")


@pytest.mark.parametrize("name", list_blenders())
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_every_blender_weights_members_and_keeps_shapes(name, task):
    b, m = get_blender(name), _members(task)
    if (task == "multiclass" and not b.multiclass) or (task == "regression" and not b.regression):
        with pytest.raises(ConfigError):
            blend_members(m, name)
        return
    res = blend_members(m, name)
    assert res.weights.shape == (3,) and (res.weights >= 0).all()
    assert res.weights.sum() == pytest.approx(1.0)
    assert res.oof.shape == m.oof[0].shape and res.test.shape == m.test[0].shape
    assert np.isfinite(res.oof).all() and np.isfinite(res.test).all()
    assert np.isfinite(res.in_sample) and np.isfinite(res.nested)
    assert set(res.fold_weights) == ({0, 1, 2, 3} if b.fitted else set())


@pytest.mark.parametrize("name", list_stackers())
@pytest.mark.parametrize("task,width", [("binary", 1), ("multiclass", 3), ("regression", 1)])
def test_every_stacker_fits_and_predicts_n_by_k(name, task, width):
    m = _members(task)
    X, y = meta_inputs(m.oof, task), m.y
    spec = MetaSpec(task=task, n_members=3, width=width, seed=0, threads=1)
    try:
        meta = get_stacker(name)(spec)
    except ConfigError:
        return  # a stacker may refuse a task, with a ConfigError naming an alternative
    except MissingDependencyError as e:
        pytest.skip(str(e))
    pred = np.asarray(meta.fit(X[:180], y[:180]).predict(X[180:]))
    assert pred.reshape(60, -1).shape == (60, width)
    assert np.isfinite(pred).all()
    if task != "regression":
        assert (pred >= 0).all() and (pred <= 1).all()
