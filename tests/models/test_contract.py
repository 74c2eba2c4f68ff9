"""scikit-learn's estimator contract for every registered model family.

Constructors only store parameters, so ``sklearn.base.clone`` gives each fold a fresh, equal,
unfitted model; bad parameters are reported when ``fit`` starts (and by ``create_model``); an
unfitted model refuses to predict with an error that is both medalist's and sklearn's.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import polars as pl
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from medalist.core.errors import ConfigError, MedalistError
from medalist.models import MODELS, FitContext, ModelNotFittedError, create_model

# What each family needs installed, and the smallest params it accepts.
NEEDS = {
    "lightgbm": ["lightgbm"], "xgboost": ["xgboost"], "catboost": ["catboost"], "sklearn": ["sklearn"],
    "timm_image": ["torch", "timm", "lightning", "albumentations"],
    "segmentation": ["torch", "timm", "lightning", "albumentations", "segmentation_models_pytorch"],
    "signal": ["torch", "timm", "lightning", "librosa", "pywt"],
    "detection": ["torch", "torchvision"],
}
NAMES = {"sklearn": "sklearn:sklearn.linear_model.LogisticRegression"}
PARAMS = {
    "lightgbm": {"num_leaves": 7}, "xgboost": {"max_depth": 3}, "catboost": {"depth": 3},
    "sklearn": {"C": 0.5}, "timm_image": {"backbone": "resnet10t"},
    "segmentation": {"backbone": "resnet10t", "masks": {"rle": "m"}},
    "signal": {"signals": {"columns": ["x"]}, "sample_rate": 100, "branches": [{"name": "w", "input": "raw"}]},
    "detection": {"boxes": "boxes.csv", "images": {"pattern": "{id}.png"}},
}
def _family(name: str) -> str:
    missing = [p for p in NEEDS.get(name, []) if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(f"model '{name}' needs {', '.join(missing)}")
    return NAMES.get(name, name)


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    df = pl.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)}).with_columns(
        y=(pl.col("a") > 0).cast(pl.Int64))
    return df, FitContext(task="binary", target=["y"], features=["a", "b"], threads=1)


@pytest.mark.parametrize("name", MODELS.names())
def test_clone_is_unfitted_and_equal(name, tiny):
    model = create_model(_family(name), PARAMS.get(name, {}), num_boost_round=7)
    fresh = clone(model)
    assert type(fresh) is type(model) and fresh is not model
    assert fresh.get_params() == model.get_params()
    assert fresh.params is not model.params  # the fold's copy can't leak into the next fold
    assert fresh.num_boost_round == 7 and fresh.best_iteration is None
    with pytest.raises(NotFittedError):
        check_is_fitted(fresh)


@pytest.mark.parametrize("name", MODELS.names())
def test_bad_options_raise_at_fit_not_at_construction(name, tiny):
    full = _family(name)
    cls = MODELS.get(full)
    _, spec = MODELS.split(full)
    model = cls(params=PARAMS.get(name), spec=spec, learnig_rate=0.1)  # a misspelt option: no error yet
    assert model.get_params()["learnig_rate"] == 0.1
    for candidate in (model, clone(model)):
        with pytest.raises(ConfigError, match="learnig_rate"):
            candidate.fit(tiny[0], None, tiny[1])
    with pytest.raises(ConfigError, match="learnig_rate"):
        create_model(full, PARAMS.get(name), learnig_rate=0.1)


BAD_PARAMS = {
    "timm_image": {"backbone": "resnet10t", "img_size": "huge"},
    "segmentation": {"backbone": "resnet10t", "arch": "Linknet"},
    "signal": {"signals": {"columns": ["x"]}, "sample_rate": "fast", "branches": [{"name": "w", "input": "raw"}]},
    "detection": {"boxes": "boxes.csv", "images": {"pattern": "{id}.png"}, "arch": "yolo"},
}


@pytest.mark.parametrize("name", sorted(BAD_PARAMS))
def test_bad_family_params_raise_at_fit_not_at_construction(name, tiny):
    model = MODELS.get(_family(name))(params=BAD_PARAMS[name])
    with pytest.raises(ConfigError):
        model.fit(tiny[0], None, tiny[1])


def test_bad_sklearn_path_raises_at_fit(tiny):
    cls = MODELS.get("sklearn")
    model = cls(spec="sklearn.linear_model.LogisticRegresion")
    model.set_params(params={"C": 2.0})  # set_params does not validate either
    with pytest.raises(ConfigError, match="did you mean 'LogisticRegression'"):
        model.fit(tiny[0], None, tiny[1])
    with pytest.raises(ConfigError, match="sklearn:"):
        cls().fit(tiny[0], None, tiny[1])


@pytest.mark.parametrize("name", MODELS.names())
def test_unfitted_model_raises_not_fitted(name, tiny, tmp_path):
    model = create_model(_family(name), PARAMS.get(name, {}))
    with pytest.raises(NotFittedError) as err:
        model.predict(tiny[0])
    assert isinstance(err.value, MedalistError) and isinstance(err.value, ModelNotFittedError)
    assert "fit()" in str(err.value) and name in str(err.value)
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "m")
    with pytest.raises(NotFittedError):
        model.feature_importance()


def test_clone_keeps_options_and_refits_from_scratch(tiny):
    df, ctx = tiny
    model = create_model("sklearn:sklearn.linear_model.LogisticRegression", {"C": 0.5}, preprocess=False)
    model.fit(df, None, ctx)
    fresh = clone(model)
    assert fresh.preprocess is False and fresh.options == {"preprocess": False}
    assert not hasattr(fresh, "estimator_") and hasattr(model, "estimator_")
    fresh.set_params(preprocess=True).fit(df, None, ctx)
    assert fresh.predict(df).shape == (df.height,)


def test_gbdt_clone_refit_matches(tiny):
    df, ctx = tiny
    model = create_model("lightgbm", {"num_leaves": 4, "min_data_in_leaf": 5}, num_boost_round=15,
                         early_stopping_rounds=None).fit(df, None, ctx)
    again = clone(model).fit(df, None, ctx)
    assert again.best_iteration == model.best_iteration == 15
    np.testing.assert_allclose(again.predict(df), model.predict(df))
