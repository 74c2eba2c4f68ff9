"""Epoch selection on a signal model through the real CV runner on PLAID: ``best_iterations`` is the
selected epoch of each fold, chosen on an inner slice; model.json carries the signal training options."""

from __future__ import annotations

import json

import pytest

from tests.signal.conftest import KEEP, needs_plaid

pytestmark = needs_plaid

SELECT_CONFIG = """\
model:
  name: signal
  params:
    signals: {columns: [current]}
    sample_rate: 30000
    length: 256
    pad: wrap
    epochs: 4
    batch_size: 32
    lr: 0.01
    select: best
    select_split: inner
    branches:
      - {name: wave, input: raw, hidden: 16, layers: 3}
""" + KEEP + "threads: 1\nseeds: [0]\n"


def test_best_iterations_are_the_epochs_the_inner_slice_selected(plaid_ws):
    from medalist.cv.runner import train

    cfg = plaid_ws.root / "configs" / "select.yaml"
    cfg.write_text(SELECT_CONFIG)
    run = train(plaid_ws, cfg, tracking=False)
    folds = run.metrics["folds"]
    assert run.metrics["oof"] > 0.6082 - 0.02, run.metrics  # 11 classes, largest 16%; measured 0.6082, margin 0.02
    for f in folds:
        meta = json.loads((run.path / "models" / f"r0_f{f['fold']}_s0" / "model.json").read_text())
        sel = meta["selection"]
        inner = [r["inner_score"] for r in sel["epochs"]]
        best = max(inner) if run.metrics["metric"] == "accuracy" else min(inner)
        assert f["best_iterations"] == [sel["selected_epoch"]] == [inner.index(best) + 1], (f, sel)
        assert sel["on"] == "inner" and sel["optimism"] >= 0
        assert meta["options"] == {} and meta["training"]["select_split"] == "inner"
        # the fold's score is that of the selected epoch on the scoring fold
        assert f["score"] == pytest.approx(sel["epochs"][sel["selected_epoch"] - 1]["fold_score"], abs=1e-9)
        # metrics.json names the kept epoch, the rule and the optimism of each fold, as model.json does
        assert f["selection"] == [{"seed": 0, "select": "best", "split": "inner", "criterion": sel["criterion"],
                                   "selected_epoch": sel["selected_epoch"], "validated_epochs": 4,
                                   "fold_best_epoch": sel["fold_best_epoch"], "fold_score_selected": sel["fold_score_selected"],
                                   "fold_score_fold_best": sel["fold_score_fold_best"], "optimism": sel["optimism"]}], f
    summary = run.metrics["selection"]
    assert summary["select"] == "best" and summary["split"] == "inner"
    assert summary["selected_epochs"] == [f["best_iterations"][0] for f in folds]
    assert summary["optimism_mean"] == pytest.approx(sum(f["selection"][0]["optimism"] for f in folds) / len(folds), abs=1e-6)
