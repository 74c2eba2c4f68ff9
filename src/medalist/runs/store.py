"""Run artifacts on disk: ids, listing, and reading a run's predictions and metrics.

A run folder fully describes how to reproduce it::

    runs/<config-stem>-<NNN>/
      config.yaml        resolved experiment config (+ competition snapshot)
      run.json           status, timings, folds hash, data hash, config hash, seeds, mlflow id
                         (typed: :class:`~medalist.runs.record.RunRecord`, ``Run.record``)
      metrics.json       per-fold scores, overall OOF score, mean ± std, best iterations
      oof.parquet        id, fold, prediction column(s)
      test.parquet       id, prediction column(s)
      importance.parquet feature, gain (mean, std over folds × seeds)
      curves.parquet     learning curves (repeat, fold, seed, name, step, value)
      parts/             per-fold predictions (what --resume keeps)
      models/            one native model per fold × seed
      git.json, versions.json, log.txt
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from medalist.core.errors import RunError, did_you_mean
from medalist.runs.record import RunRecord

__all__ = ["Run", "list_runs", "new_run_id", "pred_columns"]

_ID_RE = re.compile(r"^(?P<stem>.+)-(?P<n>\d{3,})$")


def pred_columns(task: str, classes: list | None, target: list[str]) -> list[str]:
    """Names of prediction columns: ``pred`` or one ``pred_<label>`` per class/label."""
    if task in ("multiclass", "distribution"):
        return [f"pred_{c}" for c in classes or []]
    if task == "multilabel":
        return [f"pred_{t}" for t in target]
    return ["pred"]


def new_run_id(runs_dir: Path, stem: str) -> str:
    """Reserve ``<stem>-<NNN>`` by creating its folder (atomic: safe with concurrent runs)."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "run"
    taken = [int(m["n"]) for p in runs_dir.iterdir() if (m := _ID_RE.match(p.name)) and m["stem"] == stem]
    n = max(taken, default=0) + 1
    while True:
        rid = f"{stem}-{n:03d}"
        try:
            os.mkdir(runs_dir / rid)
            return rid
        except FileExistsError:
            n += 1


@dataclass
class Run:
    """A run folder. ``Run.open(ws, "lgbm-001")`` reads one."""

    id: str
    path: Path

    @classmethod
    def open(cls, ws, run_id: str) -> "Run":
        path = ws.runs_dir / run_id
        if not (path / "run.json").is_file():
            names = [p.name for p in ws.runs_dir.iterdir()] if ws.runs_dir.is_dir() else []
            raise RunError(
                f"run '{run_id}'", expected=f"a run in {ws.runs_dir}",
                found=f"none{did_you_mean(run_id, names)}", fix="see `medalist runs`",
            )
        return cls(run_id, path)

    # --------------------------------------------------------------- readers
    def _json(self, name: str) -> dict[str, Any]:
        p = self.path / name
        return json.loads(p.read_text()) if p.is_file() else {}

    @property
    def record(self) -> RunRecord:
        """run.json, typed (read on each access: a writer in this or another process may update it)."""
        return RunRecord.load(self.path / "run.json")

    @property
    def info(self) -> dict[str, Any]:
        """Deprecated: run.json as a dict; use :attr:`record`."""
        warnings.warn("Run.info is deprecated; use Run.record (typed)", DeprecationWarning, stacklevel=2)
        return self.record.model_dump()

    @property
    def metrics(self) -> dict[str, Any]:
        return self._json("metrics.json")

    @property
    def config(self) -> dict[str, Any]:
        p = self.path / "config.yaml"
        return yaml.safe_load(p.read_text()) if p.is_file() else {}

    @property
    def status(self) -> str:
        p = self.path / "run.json"
        return self.record.status if p.is_file() else "unknown"

    def _require_done(self, what: str) -> Path:
        p = self.path / what
        if not p.is_file():
            raise RunError(
                f"run '{self.id}'", expected=f"a finished run with {what}", found=f"status '{self.status}'",
                fix=f"finish it with `medalist train CONFIG --resume {self.id}`",
            )
        return p

    def oof(self) -> pl.DataFrame:
        return pl.read_parquet(self._require_done("oof.parquet"))

    def test(self) -> pl.DataFrame:
        return pl.read_parquet(self._require_done("test.parquet"))

    def importance(self) -> pl.DataFrame | None:
        p = self.path / "importance.parquet"
        return pl.read_parquet(p) if p.is_file() else None

    @property
    def cv(self) -> float | None:
        return self.metrics.get("oof")

    @property
    def scored_with(self) -> str | None:
        """The metric the run's CV was scored with: run.json's ``metric``, else metrics.json's (older runs)."""
        return self.record.metric or self.metrics.get("metric")

    def summary(self, current_metric: str | None = None) -> dict[str, Any]:
        """One row of ``medalist runs``; ``stale`` is True when the CV was scored with another metric
        than ``current_metric`` (the workspace's), None when either is unknown."""
        rec, m = self.record, self.metrics
        used = self.scored_with
        return {
            "id": self.id,
            "model": rec.model,
            "status": rec.status if "status" in rec.model_fields_set else None,
            "metric": used,
            "stale": (used != current_metric) if used and current_metric else None,
            "cv": m.get("oof"),
            "mean": m.get("mean"),
            "std": m.get("std"),
            "seconds": rec.seconds,
            "folds_hash": rec.folds_hash,
            "created": rec.created,
            "note": rec.note,
        }


def list_runs(ws) -> list[Run]:
    """Every run in the workspace, oldest first."""
    if not ws.runs_dir.is_dir():
        return []
    runs = [Run(p.name, p) for p in ws.runs_dir.iterdir() if (p / "run.json").is_file()]
    return sorted(runs, key=lambda r: (r.record.created or "", r.id))
