"""Train curves the report cannot recompute are named in the report, not silently dropped."""

from __future__ import annotations

from medalist.report.curves import train_curves
from medalist.runs.store import Run
from medalist.workspace.folds import Folds


def test_unrecomputable_train_curves_are_noted(trained_ws):
    from medalist.report.data import load_data

    run = Run.open(trained_ws, "fast-001")
    data = load_data(trained_ws, run)
    splits = Folds.load(trained_ws.folds_path).splits(data.train)
    (run.path / "models" / "r0_f0_s42" / "model.json").unlink()
    (run.path / "models" / "r0_f1_s42" / "model.txt").write_text("not a model\n")
    notes: list[str] = []
    curves = train_curves(trained_ws, run, data, splits, "valid/auc", notes=notes)
    assert sorted(curves) == [(0, 2)]
    assert notes[0] == "fast-001 fold 0: train curve not recomputed (no saved fold model in models/r0_f0_s42)"
    assert notes[1].startswith("fast-001 fold 1: train curve not recomputed (the model did not load: ")
    assert "model.txt: expected a lightgbm model file, found unreadable (LightGBMError" in notes[1]
