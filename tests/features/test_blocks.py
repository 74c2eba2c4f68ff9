"""Feature blocks: each against a hand-computed tiny example, each bad parameter as a clear error,
and the blocks inside real runs (per-fold target encoding, OOF of another run, full-data refit, CLI)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from medalist.core.errors import ConfigError, DataError, FoldsError, RunError
from medalist.core.safety import trusted
from medalist.cv.runner import train
from medalist.features import FEATURES, FeatureContext, FeaturePlan, describe_features
from medalist.workspace.folds import build_folds

TRAIN = pl.DataFrame({
    "id": [1, 2, 3, 4],
    "k": [0, 0, 1, 1],
    "x": [1.0, 3.0, 5.0, None],
    "t": [2, 1, 1, 2],
    "y": [1, 0, 1, 1],
})
TEST = pl.DataFrame({"id": [5, 6], "k": [1, 2], "x": [9.0, 4.0], "t": [3, 1]})


def plan(*specs, **ctx) -> FeaturePlan:
    return FeaturePlan(list(specs), FeatureContext(source="fe.yaml", id="id", target=["y"], **ctx))


def static(*specs, **ctx) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    return plan(*specs, **ctx).static(TRAIN, TEST)


def col(frames, name: str) -> list:
    tr, te, _ = frames
    return tr.get_column(name).to_list() + te.get_column(name).to_list()


# ----------------------------------------------------------------------------- each block, by hand
def test_group_agg_over_train_and_test_together():
    out = static({"block": "group_agg", "columns": ["x"], "by": [["k"]], "stats": ["mean", "max", "count", "nunique"]})
    assert out[2] == ["grp_mean_x_by_k", "grp_max_x_by_k", "grp_count_x_by_k", "grp_nunique_x_by_k"]
    # k=1 holds train 5.0, None and test 9.0: mean 7, count of non-null 2, nunique counts null too
    assert col(out, "grp_mean_x_by_k") == [2.0, 2.0, 7.0, 7.0, 7.0, 4.0]
    assert col(out, "grp_max_x_by_k") == [3.0, 3.0, 9.0, 9.0, 9.0, 4.0]
    assert col(out, "grp_count_x_by_k") == [2, 2, 2, 2, 2, 1]
    assert col(out, "grp_nunique_x_by_k") == [2, 2, 3, 3, 3, 1]
    # the target never reaches the static blocks' frame, so nothing can leak through them
    assert "y" in out[0].columns and "y" not in out[1].columns


def test_group_agg_several_keys_and_std():
    out = static({"block": "group_agg", "columns": ["x"], "by": ["k", ["k", "t"]], "stats": ["std", "median"]})
    assert out[2] == ["grp_std_x_by_k", "grp_median_x_by_k", "grp_std_x_by_k_t", "grp_median_x_by_k_t"]
    assert col(out, "grp_std_x_by_k")[0] == pytest.approx(math.sqrt(2))
    assert col(out, "grp_median_x_by_k_t") == [1.0, 3.0, 5.0, None, 9.0, 4.0]


def test_group_deviation_diff_ratio_z():
    out = static({"block": "group_deviation", "columns": ["x"], "by": [["k"]], "how": ["diff", "ratio", "z"]})
    assert col(out, "dev_diff_x_by_k")[:3] == [-1.0, 1.0, -2.0]
    assert col(out, "dev_ratio_x_by_k")[:3] == [0.5, 1.5, 5.0 / 7.0]
    z = col(out, "dev_z_x_by_k")
    assert z[0] == pytest.approx(-1 / math.sqrt(2)) and z[5] is None  # single-row group: no spread, no z


def test_lag_and_diff_per_entity_in_time_order():
    out = static({"block": "lag", "columns": ["x"], "by": ["k"], "time": "t", "n": [1]})
    # k=0 in time order: x=3 (t=1), x=1 (t=2); k=1: x=5 (t=1), None (t=2), 9 (t=3, a test row)
    assert col(out, "lag1_x_by_k") == [3.0, None, None, 5.0, None, None]
    assert col(out, "diff1_x_by_k") == [-2.0, None, None, None, None, None]
    # competition.time is the default order
    out = static({"block": "lag", "columns": ["x"], "by": ["k"], "n": [1], "diff": False}, time="t")
    assert out[2] == ["lag1_x_by_k"]


def test_count_encode_and_rank_in_group():
    out = static({"block": "count_encode", "columns": ["k", ["k", "t"]]})
    assert col(out, "cnt_k") == [2, 2, 3, 3, 3, 1]
    assert col(out, "cnt_k_t") == [1, 1, 1, 1, 1, 1]
    out = static({"block": "rank_in_group", "columns": ["t"], "by": [["k"]]})
    assert col(out, "rank_t_by_k") == [1.0, 0.5, 1 / 3, 2 / 3, 1.0, 1.0]


def test_expr_and_blocks_chain_in_order():
    out = static({"block": "expr", "name": "x2", "sql": "x * x + t"},
                 {"block": "group_agg", "columns": ["x2"], "by": [["k"]], "stats": ["min"]})
    assert col(out, "x2") == [3.0, 10.0, 26.0, None, 84.0, 17.0]
    assert col(out, "grp_min_x2_by_k") == [3.0, 3.0, 26.0, 26.0, 26.0, 17.0]


def test_date_parts_from_category_codes_and_numbers():
    ctx_cats = {"d": ["2024-01-31", "2025-12-01"]}
    tr = pl.DataFrame({"id": [1, 2], "y": [0, 1], "d": pl.Series([0, 1], dtype=pl.Int32), "days": [0, 59]})
    te = pl.DataFrame({"id": [3], "d": pl.Series([None], dtype=pl.Int32), "days": [365]})
    p = FeaturePlan([{"block": "date_parts", "column": "d", "parts": ["year", "month", "weekday"]},
                     {"block": "date_parts", "column": "days", "unit": "d", "parts": ["year", "month", "day"]}],
                    FeatureContext(id="id", target=["y"], categories=ctx_cats))
    a, b, cols = p.static(tr, te)
    assert a["d_year"].to_list() == [2024, 2025] and a["d_month"].to_list() == [1, 12] and a["d_weekday"].to_list() == [3, 1]
    assert b["d_year"].to_list() == [None]
    assert a["days_month"].to_list() == [1, 3] and b["days_year"].to_list() == [1971]


def test_join_external_table_on_category_labels(tmp_path):
    (tmp_path / "clinics.csv").write_text("clinic,beds\nnorth,10\nsouth,20\n")
    tr = pl.DataFrame({"id": [1, 2], "y": [0, 1], "clinic": pl.Series([1, 0], dtype=pl.Int32)})
    te = pl.DataFrame({"id": [3], "clinic": pl.Series([2], dtype=pl.Int32)})
    ctx = FeatureContext(id="id", target=["y"], categories={"clinic": ["north", "south", "west"]}, root=tmp_path)
    a, b, cols = FeaturePlan([{"block": "join", "path": "clinics.csv", "on": ["clinic"], "prefix": "c_"}], ctx).static(tr, te)
    assert cols == ["c_beds"] and a["c_beds"].to_list() == [20, 10] and b["c_beds"].to_list() == [None]


def double_x(frame: pl.DataFrame, params: dict) -> pl.DataFrame:
    return frame.with_columns((pl.col("x") * params["factor"]).alias("x_times"), pl.lit("a").alias("tag"))


def test_custom_function_and_text_output_becomes_codes():
    with trusted(["tests"]):  # a custom function must be in a module medalist.yaml trusts
        p = plan({"block": "custom", "function": f"{__name__}:double_x", "params": {"factor": 3}})
        a, b, cols = p.static(TRAIN, TEST)
    assert cols == ["x_times", "tag"] and a["x_times"].to_list()[:2] == [3.0, 9.0]
    assert a["tag"].dtype == pl.Int32 and p.categorical == ["tag"]


def test_target_encode_in_fold_with_inner_folds_by_hand():
    tr = pl.DataFrame({"c": [0, 0, 0, 1, 1, 1], "y": [1, 1, 0, 0, 0, 1]})
    va = pl.DataFrame({"c": [0, 1, 2], "y": [0, 0, 0]})
    te = pl.DataFrame({"c": [2, 0]})
    inner = np.array([0, 0, 1, 0, 1, 1])
    p = FeaturePlan([{"block": "target_encode", "columns": ["c"], "smoothing": 2}], FeatureContext(target=["y"], task="binary"))
    a, b, c, cols = p.for_split(tr, va, te, inner)
    assert cols == ["te_c"]
    prior = 0.5  # 3 of 6 train rows positive; valid labels play no part
    assert b["te_c"].to_list() == pytest.approx([(2 + 2 * prior) / (3 + 2), (1 + 2 * prior) / (3 + 2), prior])
    assert c["te_c"].to_list() == pytest.approx([prior, (2 + 2 * prior) / 5])
    # train rows: statistics of the other inner fold only (fold 0 = rows 0,1,3 with prior 2/3;
    # fold 1 = rows 2,4,5 with prior 1/3), smoothing scaled by that fold's share of the train rows (1/2)
    m = 2 * 0.5
    row0 = (0 + m / 3) / (1 + m)  # from fold 1: c=0 once (y=0)
    row2 = (2 + m * 2 / 3) / (2 + m)  # from fold 0: c=0 twice (y=1,1)
    row3 = (1 + m / 3) / (2 + m)  # from fold 1: c=1 twice (y=0,1)
    row4 = (0 + m * 2 / 3) / (1 + m)  # from fold 0: c=1 once (y=0)
    assert a["te_c"].to_list() == pytest.approx([row0, row0, row2, row3, row4, row4])


def test_target_encode_multiclass_one_column_per_class_and_regression_mean():
    tr = pl.DataFrame({"c": [0, 0, 1], "y": [0, 2, 1]})
    ctx = FeatureContext(target=["y"], task="multiclass", classes=["a", "b", "c"])
    _, b, _, cols = FeaturePlan([{"block": "target_encode", "columns": ["c"], "smoothing": 0}], ctx).for_split(
        tr, pl.DataFrame({"c": [0]}), pl.DataFrame({"c": [1]}), np.array([0, 1, 1]))
    assert cols == ["te_c_a", "te_c_b", "te_c_c"] and b.row(0) == (0, 0.5, 0.0, 0.5)
    tr = pl.DataFrame({"c": [0, 0], "y": [1.5, 2.5]})
    ctx = FeatureContext(target=["y"], task="regression")
    _, b, _, _ = FeaturePlan([{"block": "target_encode", "columns": ["c"], "smoothing": 0}], ctx).for_split(
        tr, pl.DataFrame({"c": [0]}), pl.DataFrame({"c": [0]}), np.array([0, 1]))
    assert b["te_c"].to_list() == [2.0]


def test_every_block_is_registered_with_typed_params():
    assert set(FEATURES.names()) >= {"group_agg", "group_deviation", "lag", "count_encode", "rank_in_group", "expr",
                                     "date_parts", "target_encode", "oof_feature", "join", "custom"}
    assert [FEATURES.get(n).per_fold for n in ("target_encode", "group_agg")] == [True, False]


# ----------------------------------------------------------------------------- bad parameters
@pytest.mark.parametrize("spec,match", [
    ({"block": "group_agg", "columns": ["xx"], "by": [["k"]]}, r"features\[0\]\.columns.*no column 'xx' \(did you mean 'x'\?\)"),
    ({"block": "group_agg", "columns": ["x"], "by": [["kk", "t"]]}, r"features\[0\]\.by.*no column 'kk'"),
    ({"block": "group_agg", "colums": ["x"], "by": [["k"]]}, r"features\[0\]\.colums.*did you mean 'columns'"),
    ({"block": "group_agg", "columns": ["x"], "by": [["k"]], "stats": ["avg"]}, r"features\[0\]\.stats"),
    ({"block": "group_ag", "columns": ["x"]}, r"features\[0\]\.block.*did you mean 'group_agg'"),
    ({"columns": ["x"]}, r"features\[0\].*'block: NAME'"),
    ({"block": "lag", "columns": ["x"], "by": ["k"]}, r"features\[0\]\.time.*a time column"),
    ({"block": "lag", "columns": ["x"], "by": ["k"], "time": "tt"}, r"features\[0\]\.time.*did you mean 't'"),
    ({"block": "group_agg", "columns": ["y"], "by": [["k"]]}, r"the target 'y'.*target_encode"),
    ({"block": "expr", "name": "z", "sql": "y * 2"}, r"features\[0\]\.sql.*target 'y'"),
    ({"block": "expr", "name": "z", "sql": "xq * 2"}, r"features\[0\]\.sql.*did you mean 'x'"),
    ({"block": "target_encode", "columns": ["kk"]}, r"features\[0\]\.columns.*did you mean 'k'"),
    ({"block": "target_encode", "columns": ["k"], "smoothing": -1}, r"features\[0\]\.smoothing"),
    ({"block": "custom", "function": "no_such_module_xyz:f"}, r"features\[0\]\.function.*not trusted.*trust: \[no_such_module_xyz\]"),
    ({"block": "date_parts", "column": "x"}, r"features\[0\]\.unit"),
])
def test_bad_parameters_are_config_errors_naming_the_key(spec, match):
    with pytest.raises(ConfigError, match=match):
        static(spec)


def test_bad_tables_and_functions_are_data_errors(tmp_path):
    (tmp_path / "t.csv").write_text("key,v\n1,2\n")
    ctx = dict(root=tmp_path)
    with pytest.raises(DataError, match=r"features\[0\]\.on.*'k'.*joined table"):
        static({"block": "join", "path": "t.csv", "on": ["k"]}, **ctx)
    (tmp_path / "d.csv").write_text("k,v\n1,2\n1,3\n")
    with pytest.raises(DataError, match="one row per key"):
        static({"block": "join", "path": "d.csv", "on": ["k"]}, **ctx)
    with pytest.raises(DataError, match="polars DataFrame with 6 rows"):
        with trusted(["tests"]):
            static({"block": "custom", "function": f"{__name__}:bad_rows"})
    with pytest.raises(ConfigError, match="'x' exists already"):
        static({"block": "expr", "name": "x", "sql": "t + 1"})


def bad_rows(frame: pl.DataFrame, params: dict) -> pl.DataFrame:
    return frame.head(1)


# ----------------------------------------------------------------------------- in real runs
FE = """\
base: fast.yaml
features:
  - {block: group_agg, columns: [age, pan_day], by: [[subject_id]], stats: [mean, std, count]}
  - {block: target_encode, columns: [subject_id, clinic_name], smoothing: 20}
"""


def test_run_with_features_trains_refits_and_records_them(covid_ws):
    Path("configs/fe.yaml").write_text(FE)
    run = train(covid_ws, Path("configs/fe.yaml"), ["full_fit=true"], tracking=False)
    assert run.status == "done" and run.metrics["oof"] > 0.7
    imp = set(run.importance().get_column("feature").to_list())
    assert {"te_clinic_name", "grp_mean_pan_day_by_subject_id"} <= imp
    assert run.config["features"][1]["block"] == "target_encode"
    assert run.test().get_column("pred").null_count() == 0


def test_oof_feature_refuses_other_folds_and_unfinished_runs(covid_ws):
    base = train(covid_ws, Path("configs/fast.yaml"), tracking=False)
    cfg = Path("configs/stack.yaml")
    cfg.write_text(f"base: fast.yaml\nfeatures:\n  - {{block: oof_feature, run: {base.id}, rank: true}}\n")
    stacked = train(covid_ws, cfg, tracking=False)
    assert "oof_fast_001" in stacked.importance().get_column("feature").to_list()
    info = json.loads((base.path / "run.json").read_text())
    (base.path / "run.json").write_text(json.dumps({**info, "status": "failed"}))
    with pytest.raises(RunError, match=r"stack.yaml: features\[0\]\.run.*status 'failed'"):
        train(covid_ws, cfg, tracking=False)
    (base.path / "run.json").write_text(json.dumps(info))
    build_folds(covid_ws, scheme="group", k=4, group="subject_id", force=True)
    with pytest.raises(FoldsError, match=r"features\[0\]\.run.*used folds"):
        train(covid_ws, cfg, tracking=False)
    cfg.write_text("base: fast.yaml\nfeatures:\n  - {block: oof_feature, run: fast-01}\n")
    with pytest.raises(RunError, match="did you mean 'fast-001'"):
        train(covid_ws, cfg, tracking=False)
    n_runs = len(list(covid_ws.runs_dir.iterdir()))
    assert n_runs == 2  # failed checks wrote no run folder


def test_features_command_summarizes_columns(covid_ws, capsys):
    from medalist.cli.app import app

    Path("configs/fe.yaml").write_text(FE)
    frame = describe_features(covid_ws, Path("configs/fe.yaml"))
    assert frame.columns == ["name", "block", "scope", "dtype", "nulls %", "mean"]
    row = frame.filter(pl.col("name") == "te_clinic_name").row(0, named=True)
    assert row["scope"] == "per-fold" and 0.02 < row["mean"] < 0.1 and row["nulls %"] == 0
    app(["features", "configs/fe.yaml", "--json"], standalone_mode=False)
    out = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in out["features"]][:3] == ["grp_mean_age_by_subject_id", "grp_std_age_by_subject_id",
                                                        "grp_count_age_by_subject_id"]


def test_features_command_adds_importance_after_a_run(covid_ws, capsys):
    from medalist.cli.app import app

    Path("configs/fe.yaml").write_text(FE)
    assert "gain" not in describe_features(covid_ws, Path("configs/fe.yaml")).columns  # no run yet
    run = train(covid_ws, Path("configs/fe.yaml"), ["threads=1"], tracking=False)
    frame = describe_features(covid_ws, Path("configs/fe.yaml"))
    assert {"gain", "gain rank", "run"} <= set(frame.columns)
    assert frame["run"].unique().to_list() == [run.id]
    te = frame.filter(pl.col("name") == "te_clinic_name").row(0, named=True)
    assert te["gain"] > 0 and te["gain rank"] >= 1
    app(["features", "configs/fe.yaml", "--run", run.id, "--json"], standalone_mode=False)
    out = json.loads(capsys.readouterr().out)
    assert all("gain rank" in f for f in out["features"])
