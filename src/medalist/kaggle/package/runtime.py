"""The notebook side of a package: what runs inside Kaggle, offline, from the packaged wheels.

``inference.py`` (see :mod:`medalist.kaggle.package.notebook`) installs the wheels and calls
:func:`predict_package` here; it reads only the package folder and the competition data. Keep its imports
to medalist's base dependencies and the runs' model libraries: nothing else is shipped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import polars as pl
import yaml

from medalist.core.errors import MedalistError
from medalist.runs.record import RunRecord
from medalist.runs.store import Run

__all__ = ["predict_package", "run_test_predictions", "check_packable", "PackageError"]


class PackageError(MedalistError):
    """A package cannot be built or used."""


def _experiment(run_dir: Path):
    from medalist.core.config import ExperimentConfig

    full = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    exp = {k: v for k, v in full.items() if k != "competition"}
    return ExperimentConfig.model_validate(exp)


def _model_dirs(run_dir: Path) -> tuple[list[tuple[int, int]], bool]:
    names = [p.name for p in (run_dir / "models").iterdir() if p.is_dir()] if (run_dir / "models").is_dir() else []
    splits = sorted({(int(m[1]), int(m[2])) for n in names if (m := re.match(r"^r(\d+)_f(\d+)_s-?\d+$", n))})
    full = any(re.match(r"^full_s-?\d+$", n) for n in names)
    return splits, full


def check_packable(run: Run) -> None:
    """Raise when the run cannot be predicted offline from its saved models."""
    exp = _experiment(run.path)
    if exp.model_selection_by is not None:
        raise PackageError(f"run '{run.id}'", expected="a run without model_selection_by", found="two models chosen per row",
                           fix="package a run without model_selection_by")
    splits, full = _model_dirs(run.path)
    if not (full if run.record.full_fit else splits):
        raise PackageError(f"run '{run.id}'", expected="fitted models under models/", found="none",
                           fix="re-run it; models are saved per fold")


def run_test_predictions(run_dir: Path, ws_like) -> np.ndarray:
    """The run's test prediction from its saved models, in the runner's exact order of operations."""
    from medalist.features import apply_static, build_plan
    from medalist.models import load_model
    from medalist.workspace.data import load_competition_data

    exp = _experiment(run_dir)
    info = RunRecord.load(run_dir / "run.json")
    data = load_competition_data(ws_like, exp.columns, weight=exp.weight)
    plan = build_plan(exp.features, data, source=str(run_dir / "config.yaml"), ws=None, folds_hash=None)
    if plan.per_fold:
        raise PackageError(f"run '{run_dir.name}'", expected="static features only", found="per-fold feature blocks (target encoding)",
                           fix="package a run without per-fold blocks")
    data = apply_static(plan, data)
    te = data.test
    splits, _ = _model_dirs(run_dir)
    seeds = list(exp.seeds)
    if info.full_fit:
        pred = None
        for seed in seeds:
            p = load_model(run_dir / "models" / f"full_s{seed}").predict(te) / len(seeds)
            pred = p if pred is None else pred + p
        return pred
    width = data.n_classes if data.task == "multiclass" else len(data.target) if data.task == "multilabel" else 0
    total = np.zeros((te.height, width) if width else (te.height,))
    for r, f in splits:
        pt = np.zeros_like(total)
        for seed in seeds:
            pt += load_model(run_dir / "models" / f"r{r}_f{f}_s{seed}").predict(te) / len(seeds)
        total += pt / len(splits)
    return total


def _ws_like(competition: dict[str, Any], input_dir: Path):
    from medalist.core.config import CompetitionConfig

    comp = CompetitionConfig.model_validate(competition)
    d = comp.data
    return SimpleNamespace(
        competition=comp, root=input_dir, train_path=input_dir / Path(d.train).name, test_path=input_dir / Path(d.test).name,
        sample_submission_path=input_dir / Path(d.sample_submission).name,
    )


class _PackagedRun:
    """What build_submission needs of a run: its record and test predictions."""

    def __init__(self, record: RunRecord, test: pl.DataFrame) -> None:
        self.record, self._test = record, test

    def test(self) -> pl.DataFrame:
        return self._test


def predict_package(pkg: Path, input_dir: Path, out: Path) -> dict[str, Any]:
    """Predict with every run of the package (equal-weight mean when several), write and validate submission.csv.

    Also writes ``test_<run>.parquet`` (each run's raw test predictions) next to ``out``.
    """
    from medalist.kaggle.submit import build_submission, validate_submission
    from medalist.metrics.registry import get_metric

    pkg, input_dir, out = Path(pkg), Path(input_dir), Path(out)
    manifest = json.loads((pkg / "competition.json").read_text())
    ws = _ws_like(manifest["competition"], input_dir)
    for p in (ws.train_path, ws.test_path, ws.sample_submission_path):
        if not p.is_file():
            raise PackageError(str(p), expected="the competition's file", found="no such file", fix="pass --input DIR (the competition data folder)")
    frames = []
    info = None
    for rid in manifest["runs"]:
        run_dir = pkg / "runs" / rid
        info = RunRecord.load(run_dir / "run.json")
        pred = run_test_predictions(run_dir, ws)
        from medalist.workspace.data import read_table

        ids = read_table(ws.test_path, what="test", columns=[ws.competition.id]).get_column(ws.competition.id)
        cols = info.pred_columns
        p2 = pred.reshape(len(pred), -1)
        frame = pl.DataFrame({ids.name: ids, **{c: p2[:, i] for i, c in enumerate(cols)}})
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(out.parent / f"test_{rid}.parquet")
        frames.append(frame)
    test = frames[0]
    if len(frames) > 1:
        cols = [c for c in test.columns if c != ws.competition.id]
        mean = sum(f.select(cols).to_numpy() for f in frames) / len(frames)
        test = test.with_columns([pl.Series(c, mean[:, i]) for i, c in enumerate(cols)])
    sub = build_submission(ws, _PackagedRun(info, test))
    from medalist.workspace.data import read_table

    sample = read_table(ws.sample_submission_path, what="sample submission")
    validate_submission(sub, sample, id_col=ws.competition.id, task=ws.competition.task,
                        metric=get_metric(ws.competition.metric), file=str(out))
    sub.write_csv(out)
    return {"submission": str(out), "rows": sub.height, "runs": manifest["runs"]}

