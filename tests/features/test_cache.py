"""The Parquet cache of static feature blocks: keyed by content, so an edited block (or changed input
columns, join table or upstream run) recomputes only what depends on it, and a bad entry is never trusted."""

from __future__ import annotations

import logging

import polars as pl
from polars.testing import assert_frame_equal

from medalist.core.safety import trusted
from medalist.features import FeatureContext, FeaturePlan

TRAIN = pl.DataFrame({"id": [1, 2, 3, 4], "k": [0, 0, 1, 1], "x": [1.0, 3.0, 5.0, 2.0], "z": [7, 8, 9, 7], "y": [1, 0, 1, 1]})
TEST = pl.DataFrame({"id": [5, 6], "k": [1, 2], "x": [9.0, 4.0], "z": [7, 8]})

SPECS = [
    {"block": "group_agg", "columns": ["x"], "by": ["k"], "stats": ["mean"]},
    {"block": "count_encode", "columns": ["z"]},
    {"block": "expr", "name": "x2", "sql": "x * 2"},
]


def run(tmp_path, specs, train=TRAIN, test=TEST):
    plan = FeaturePlan(specs, FeatureContext(source="fe.yaml", id="id", target=["y"], cache_dir=tmp_path / "cache", root=tmp_path))
    tr, te, cols = plan.static(train, test)
    return plan, tr, te, cols


def test_second_run_reads_every_block_from_the_cache_with_identical_output(tmp_path):
    p1, tr1, te1, cols1 = run(tmp_path, SPECS)
    assert p1.cache_misses == [0, 1, 2] and p1.cache_hits == []
    assert len(list((tmp_path / "cache").glob("*.parquet"))) == 3
    p2, tr2, te2, cols2 = run(tmp_path, SPECS)
    assert p2.cache_hits == [0, 1, 2] and p2.cache_misses == []
    assert cols1 == cols2
    assert_frame_equal(tr1, tr2)
    assert_frame_equal(te1, te2)


def test_an_edited_block_recomputes_only_itself(tmp_path):
    run(tmp_path, SPECS)
    edited = [SPECS[0], {"block": "count_encode", "columns": ["z", "k"]}, SPECS[2]]
    p, tr, _, _ = run(tmp_path, edited)
    assert p.cache_misses == [1] and p.cache_hits == [0, 2]
    assert tr["cnt_k"].to_list() == [2, 2, 3, 3]


def test_changed_input_values_recompute_the_blocks_that_read_them(tmp_path):
    run(tmp_path, SPECS)
    changed = TRAIN.with_columns(pl.when(pl.col("id") == 2).then(10.0).otherwise(pl.col("x")).alias("x"))
    p, tr, _, _ = run(tmp_path, SPECS, train=changed)
    # x feeds group_agg and expr; count_encode of z is untouched
    assert p.cache_misses == [0, 2] and p.cache_hits == [1]
    assert tr["x2"].to_list() == [2.0, 20.0, 10.0, 4.0]


def test_a_changed_join_table_is_a_miss(tmp_path):
    table = tmp_path / "extra.csv"
    pl.DataFrame({"k": [0, 1, 2], "v": [1.5, 2.5, 3.5]}).write_csv(table)
    spec = [{"block": "join", "path": "extra.csv", "on": ["k"]}]
    assert run(tmp_path, spec)[0].cache_misses == [0]
    assert run(tmp_path, spec)[0].cache_hits == [0]
    pl.DataFrame({"k": [0, 1, 2], "v": [1.5, 2.5, 9.5]}).write_csv(table)
    p, tr, te, _ = run(tmp_path, spec)
    assert p.cache_misses == [0] and te["v"].to_list() == [2.5, 9.5]


def test_a_damaged_entry_is_recomputed_not_trusted(tmp_path, caplog):
    _, tr1, _, _ = run(tmp_path, SPECS[:1])
    (entry,) = (tmp_path / "cache").glob("*.parquet")
    entry.write_bytes(b"not parquet")
    with caplog.at_level(logging.WARNING, logger="medalist.features"):
        p, tr2, _, _ = run(tmp_path, SPECS[:1])
    assert p.cache_misses == [0]
    assert "unreadable" in caplog.text
    assert_frame_equal(tr1, tr2)


def test_custom_blocks_are_not_cached_unless_asked(tmp_path):
    spec = [{"block": "custom", "function": "tests.features.test_cache:double_x"}]
    with trusted(["tests"]):
        _custom_cache_steps(tmp_path, spec)


def _custom_cache_steps(tmp_path, spec):
    assert run(tmp_path, spec)[0].cache_misses == []  # not cached, not counted
    spec[0]["cache"] = True
    assert run(tmp_path, spec)[0].cache_misses == [0]
    p, tr, _, _ = run(tmp_path, spec)
    assert p.cache_hits == [0] and tr["x_twice"].to_list() == [2.0, 6.0, 10.0, 4.0]


def double_x(frame: pl.DataFrame, params: dict) -> pl.DataFrame:
    return frame.with_columns((pl.col("x") * 2).alias("x_twice"))


def test_runs_fill_and_reuse_the_workspace_cache(covid_ws):
    from medalist.cv.runner import train

    cfg = covid_ws.root / "configs" / "fe.yaml"
    cfg.write_text((covid_ws.root / "configs" / "fast.yaml").read_text()
                   + "threads: 1\nfeatures:\n  - {block: group_agg, columns: [age], by: [[patient_class]], stats: [mean]}\n")
    r1 = train(covid_ws, cfg)
    cache = covid_ws.root / ".medalist" / "cache" / "features"
    assert len(list(cache.glob("*.parquet"))) == 1
    r2 = train(covid_ws, cfg)
    assert r1.oof().equals(r2.oof())
    assert "from the feature cache" in (r2.path / "log.txt").read_text()
