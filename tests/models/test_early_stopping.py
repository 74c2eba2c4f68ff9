"""Early stopping on the competition metric (library hooks) and on rows the scored fold never shares."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import polars as pl
import pytest

from medalist.core.config import ExperimentConfig, validate
from medalist.core.errors import ConfigError
from medalist.cv.runner import earlystop, loop
from medalist.cv.runner.earlystop import StopPlan, inner_split, stop_plan
from medalist.metrics.registry import get_metric
from medalist.models import FitContext, create_model
from medalist.models.gbdt import LightGBMModel
from medalist.workspace.data import CompetitionData
from medalist.workspace.folds import Folds

FEATURES = [f"x{i}" for i in range(5)]


def _table(task: str, n: int = 400, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    noise = rng.normal(size=n)
    if task == "binary":
        y = (X[:, 0] + X[:, 1] * 0.5 + noise > 0).astype(np.int64)
    elif task == "multiclass":
        y = np.digitize(X[:, 0] + noise * 0.5, [-0.5, 0.5]).astype(np.int64)
    else:  # an ordinal grade 0..4, scored by qwk on the regression output
        y = np.clip(np.round(X[:, 0] + X[:, 1] + 2 + noise * 0.5), 0, 4)
    return pl.DataFrame({"id": np.arange(n), **{f: X[:, i] for i, f in enumerate(FEATURES)}, "y": y,
                         "w": rng.uniform(0.5, 2.0, size=n), "g": np.arange(n) // 8})


METRIC = {"binary": "auc", "multiclass": "mlogloss", "regression": "qwk"}


def _ctx(task: str, stop_metric: str = "competition", weight: str | None = "w") -> FitContext:
    return FitContext(task=task, target=["y"], features=FEATURES, weight=weight, n_classes=3 if task == "multiclass" else None,
                      metric=get_metric(METRIC[task]), stop_metric=stop_metric, threads=1)


PARAMS = {"lightgbm": {"learning_rate": 0.1, "deterministic": True}, "xgboost": {"eta": 0.1, "max_depth": 4},
          "catboost": {"learning_rate": 0.1, "depth": 4}}


@pytest.mark.parametrize("family", ["lightgbm", "xgboost", "catboost"])
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_hook_value_at_the_kept_round_is_the_metric_on_predict(family, task):
    df = _table(task)
    tr, va = df[:280], df[280:]
    model = create_model(family, PARAMS[family], early_stopping_rounds=15, num_boost_round=200).fit(tr, va, _ctx(task))
    metric = get_metric(METRIC[task])
    y = va.get_column("y").to_numpy()
    direct = metric(y.astype(np.int64) if task != "regression" else y, model.predict(va), va.get_column("w").to_numpy())
    assert model.stop_metric_ == metric.name
    assert model.stop_scores_[0] == pytest.approx(direct, abs=1e-9)
    assert 1 <= model.best_iteration < 200


@pytest.mark.parametrize("family", ["lightgbm", "xgboost", "catboost"])
def test_under_a_target_transform_the_hook_scores_the_targets_scale(family):
    """A model fitted on log1p(price) stops on rmsle of the prices (as the fold is scored), not on rmsle of logs."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 5))
    price = np.exp(2 + X[:, 0] + 0.3 * rng.normal(size=400))
    df = pl.DataFrame({**{f: X[:, i] for i, f in enumerate(FEATURES)}, "y": np.log1p(price)})
    tr, va = df[:280], df[280:]
    ctx = FitContext(task="regression", target=["y"], features=FEATURES, metric=get_metric("rmsle"), stop_metric="competition",
                     threads=1, inverse_target=np.expm1)
    model = create_model(family, PARAMS[family], early_stopping_rounds=15, num_boost_round=200).fit(tr, va, ctx)
    on_prices = get_metric("rmsle")(price[280:], np.clip(np.expm1(model.predict(va)), 0, None))
    assert model.stop_scores_[0] == pytest.approx(on_prices, abs=1e-9)
    on_logs = get_metric("rmsle")(va.get_column("y").to_numpy(), model.predict(va))  # what a hook blind to the transform sees
    assert abs(on_logs - on_prices) > 0.1


def test_competition_metric_keeps_another_round_than_native():
    # An ordinal target fit by L2 regression: L2 on the valid rows and qwk of the rounded grades peak apart.
    df = _table("regression", n=600, seed=3)
    tr, va = df[:420], df[420:]
    rounds = {}
    for mode in ("native", "competition"):
        m = create_model("lightgbm", PARAMS["lightgbm"], early_stopping_rounds=30, num_boost_round=500)
        rounds[mode] = m.fit(tr, va, _ctx("regression", mode, weight=None)).best_iteration
    assert rounds == {"native": 37, "competition": 48}  # measured; deterministic LightGBM, 1 thread


def test_a_metric_no_hook_can_evaluate_is_a_config_error():
    data = _data(_table("binary"))
    exp = _exp({"metric": "competition"})
    with pytest.raises(ConfigError) as e:
        stop_plan(exp, get_metric("map@3"), data, _folds(data.train), stops_early=True)
    msg = str(e.value)
    assert "model.early_stopping.metric" in msg and "'map@3' scores ranked item lists" in msg
    assert "model.early_stopping.metric: native" in msg
    # auto falls back to the native metric instead
    assert stop_plan(_exp({}), get_metric("map@3"), data, _folds(data.train), stops_early=True).metric == "native"
    assert stop_plan(_exp({}), get_metric("auc"), data, _folds(data.train), stops_early=True).metric == "competition"


def test_bad_stopping_metric_fails_before_the_run_folder_exists(covid_ws):
    from pathlib import Path

    from medalist.cv.runner import train

    covid_ws.config.competition.metric = "map@3"
    covid_ws.save_config()
    with pytest.raises(ConfigError, match="model.early_stopping.metric"):
        train(covid_ws, Path("configs/fast.yaml"), ["model.early_stopping.metric=competition"], tracking=False)
    assert not any(covid_ws.runs_dir.iterdir()) if covid_ws.runs_dir.exists() else True


def test_two_spellings_of_the_patience_must_agree():
    cfg = validate(ExperimentConfig, {"model": {"name": "lightgbm", "early_stopping": {"rounds": 30}}}, "c.yaml")
    assert cfg.model.early_stopping_rounds == 30 and cfg.model.early_stopping.rounds == 30
    cfg = validate(ExperimentConfig, {"model": {"name": "lightgbm", "early_stopping_rounds": 7}}, "c.yaml")
    assert cfg.model.early_stopping.rounds == 7
    assert validate(ExperimentConfig, cfg.model_dump(mode="json"), "again.yaml") == cfg  # the resolved config re-validates
    with pytest.raises(ConfigError) as e:
        validate(ExperimentConfig, {"model": {"name": "lightgbm", "early_stopping_rounds": 7,
                                              "early_stopping": {"rounds": 30}}}, "c.yaml")
    assert str(e.value).startswith("c.yaml: key 'model.early_stopping.rounds': expected the same patience")


# ---------------------------------------------------------------- the inner split, through run_cv


def _data(df: pl.DataFrame, task: str = "binary") -> CompetitionData:
    return CompetitionData(train=df, test=df.head(20), id="id", target=["y"], features=FEATURES, categorical=[],
                           task=task, classes=[0, 1])


def _folds(train: pl.DataFrame, scheme: str = "kfold", group: str | None = None) -> Folds:
    n = train.height
    ids = train.get_column("id").to_numpy()
    order = None
    if scheme == "time":
        fold, order = np.repeat([-1, 0, 1, 2], n // 4), ids
    elif group:
        fold = train.get_column(group).to_numpy() % 3
    else:
        fold = ids % 3
    table = pl.DataFrame({"id": ids, "repeat": np.zeros(n, dtype=np.int64), "fold": fold.astype(np.int16),
                          "order": pl.Series(order, dtype=pl.Int64) if order is not None else pl.Series([None] * n, dtype=pl.Int64)})
    return Folds(table, {"id_col": "id", "scheme": scheme, "group": group, "target": ["y"]})


def _exp(es: dict) -> ExperimentConfig:
    return validate(ExperimentConfig, {"model": {"name": "lightgbm", "params": {"learning_rate": 0.2}, "num_boost_round": 200,
                                                 "early_stopping": {"rounds": 10, **es}}, "threads": 1}, "test")


class _Spy(LightGBMModel):
    fits: ClassVar[list] = []

    def fit(self, train, valid, ctx):
        _Spy.fits.append({"train": set(train.get_column("id").to_list()),
                          "valid": None if valid is None else set(valid.get_column("id").to_list()),
                          "num_iterations": ctx.num_iterations})
        return super().fit(train, valid, ctx)


def _run(monkeypatch, df, folds, es, data=None):
    _Spy.fits = []
    monkeypatch.setattr(loop, "_model_factory", lambda exp: (lambda: _Spy({"learning_rate": 0.2}, early_stopping_rounds=10,
                                                                           num_boost_round=200)))
    data = data or _data(df)
    res = loop.run_cv(data, folds, _exp(es), get_metric("auc"))
    return res, folds.splits(data.train), _Spy.fits


def test_inner_split_never_sees_the_scored_fold(monkeypatch):
    df = _table("binary", n=300)
    res, splits, fits = _run(monkeypatch, df, _folds(df), {"split": "inner", "inner_model": "keep"})
    assert len(fits) == len(splits) == 3
    for fit, split in zip(fits, splits):
        scored = set(df.get_column("id").to_numpy()[split.valid_idx].tolist())
        assert not (fit["train"] | fit["valid"]) & scored
        assert fit["train"] | fit["valid"] == set(df.get_column("id").to_numpy()[split.train_idx].tolist())
        assert len(fit["valid"]) == round(0.15 * len(split.train_idx))
    es = res.scores[0]["early_stopping"]
    assert es["split"] == "inner" and es["metric"] == "competition" and es["n_stop"] == 30 and es["n_inner_train"] == 170
    assert es["rounds"] == es["found"] and len(es["stop_score"]) == 1


def test_inner_refit_trains_all_outer_rows_with_scaled_rounds(monkeypatch):
    df = _table("binary", n=300)
    res, splits, fits = _run(monkeypatch, df, _folds(df), {"split": "inner", "inner_model": "refit"})
    assert len(fits) == 6
    for i, split in enumerate(splits):
        refit = fits[2 * i + 1]
        assert refit["valid"] is None and len(refit["train"]) == len(split.train_idx)
        es = res.scores[i]["early_stopping"]
        assert refit["num_iterations"] == es["rounds"][0] == max(1, round(es["found"][0] * 200 / 170))


def test_inner_split_keeps_groups_whole(monkeypatch):
    df = _table("binary", n=320)
    _, _, fits = _run(monkeypatch, df, _folds(df, "group", "g"), {"split": "inner", "inner_fraction": 0.2, "inner_model": "keep"})
    groups = dict(zip(df.get_column("id").to_list(), df.get_column("g").to_list()))
    for fit in fits:
        assert not {groups[i] for i in fit["train"]} & {groups[i] for i in fit["valid"]}
        assert len(fit["valid"]) % 8 == 0 and len(fit["valid"]) >= 0.2 * 213


def test_time_inner_split_stops_on_the_latest_training_rows(monkeypatch):
    df = _table("binary", n=400)
    _, splits, fits = _run(monkeypatch, df, _folds(df, "time"), {"split": "inner", "inner_model": "keep"})
    assert [len(s.train_idx) for s in splits] == [100, 200, 300]
    for fit, split in zip(fits, splits):
        assert min(fit["valid"]) > max(fit["train"])  # ids are the time order here
        assert max(fit["valid"]) == split.train_idx.max() and len(fit["valid"]) == round(0.15 * len(split.train_idx))


def test_split_none_trains_every_fold_with_the_same_mean_round(monkeypatch):
    df = _table("binary", n=300)
    res, splits, fits = _run(monkeypatch, df, _folds(df), {"split": "none"})
    first, final = fits[:3], fits[3:]
    assert all(f["valid"] is not None for f in first)  # the first pass: inner-stopped
    rounds = {f["num_iterations"] for f in final}
    found = res.scores[0]["early_stopping"]["first_pass_rounds"]
    assert len(found) == 3 and rounds == {round(float(np.mean(found)))}
    for fit, split in zip(final, splits):
        assert fit["valid"] is None and len(fit["train"]) == len(split.train_idx)
    assert [s["early_stopping"]["rounds"] for s in res.scores] == [[rounds.pop()]] * 3


def test_scoring_fold_is_the_old_behaviour(monkeypatch):
    df = _table("binary", n=300)
    res, splits, fits = _run(monkeypatch, df, _folds(df), {"split": "scoring-fold", "metric": "native"})
    for fit, split in zip(fits, splits):
        assert fit["valid"] == set(df.get_column("id").to_numpy()[split.valid_idx].tolist())
    assert res.scores[0]["early_stopping"]["metric"] == "native"


def test_inner_split_doctest_shape():
    plan = StopPlan("inner", "native", fraction=0.2, labels=np.array([0, 1] * 10))
    fit, stop = inner_split(np.arange(20), plan, seed=(1, 0, 0))
    assert len(stop) == 4 and np.bincount(plan.labels[stop]).tolist() == [2, 2]
    assert sorted([*fit, *stop]) == list(range(20))
    assert earlystop.stop_summary([]) == {}


def test_train_records_the_default_stopping_per_fold(covid_ws, monkeypatch, capsys):
    from pathlib import Path

    from medalist.cv.runner import train
    from tests.conftest import run_medalist

    run = train(covid_ws, Path("configs/fast.yaml"), ["threads=1"], tracking=False)
    folds = run.metrics["folds"]
    for f in folds:
        es = f["early_stopping"]
        assert (es["split"], es["metric"], es["inner_model"]) == ("inner", "competition", "refit")
        assert es["n_inner_train"] + es["n_stop"] == f["n_train"]
        assert es["rounds"] == f["best_iterations"] == [max(1, round(es["found"][0] * f["n_train"] / es["n_inner_train"]))]
    code, out, _ = run_medalist(monkeypatch, capsys, "show", run.id)
    assert code == 0 and "inner, competition" in out
