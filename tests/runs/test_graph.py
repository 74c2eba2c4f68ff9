"""The run graph: inputs derived from configs, recorded runs, `medalist graph`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from medalist.cli.app import app
from medalist.runs.graph import derive_inputs


def test_inputs_of_every_kind_are_derived_from_a_config():
    cfg = {
        "features": [
            {"block": "oof_feature", "run": "img-001", "rank": True},
            {"block": "oof_feature", "run": "img-001"},  # twice: listed once
            {"block": "join", "path": "data/extra.parquet", "on": ["id"]},
            {"block": "target_encode", "columns": ["site"]},
            {"block": "custom", "function": "mymod:feat"},
        ],
        "model": {"name": "timm_image", "params": {"pseudo_label": {"run": "img-000", "min_confidence": 0.9}}},
    }
    got = derive_inputs(cfg)
    assert got == {"predict_from": ["img-001"], "trained_with": ["img-000"], "tables": ["data/extra.parquet"],
                   "in_fold": ["target_encode"], "custom": ["mymod:feat"]}
    assert derive_inputs({}, members=["a-001", "b-001"])["predict_from"] == ["a-001", "b-001"]
    # a registered per-fold block of a plugin counts too when the runner says so
    assert derive_inputs({"features": [{"block": "my_te"}]}, per_fold={"my_te"})["in_fold"] == ["my_te"]


def test_graph_cli_prints_the_order_and_json(chain, monkeypatch, capsys):
    ws, base, top = chain
    monkeypatch.chdir(ws.root)
    runner = CliRunner()
    res = runner.invoke(app, ["graph", top.id, "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    g = json.loads(res.output)
    assert g["order"] == [base.id, top.id] and g["runs"][top.id]["in_fold"] == ["target_encode"]
    res = runner.invoke(app, ["graph", top.id])
    assert f"{top.id}" in res.output and f"<- predictions of {base.id}" in res.output and "in-fold blocks: target_encode" in res.output
    from tests.conftest import run_medalist

    code, out, err = run_medalist(monkeypatch, capsys, "graph", "nope-001")
    assert code == 2 and "run 'nope-001'" in err and "no such run" in err and "Traceback" not in out + err
