"""Level-1 members of a blend or stack: finished runs on the same folds, aligned row by row.

A blend or a stack is itself written as a run (``runs/<id>/`` with oof.parquet, test.parquet,
metrics.json, config.yaml, run.json), so it can be shown, submitted, used as an ``oof_feature`` and
blended or stacked again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import yaml

from medalist.core.errors import FoldsError, RunError
from medalist.core.provenance import stable_hash
from medalist.metrics.registry import Metric, get_metric
from medalist.runs.record import RunRecord
from medalist.runs.store import Run
from medalist.runs.writer import RunWriter
from medalist.workspace.data import CompetitionData, load_competition_data, target_array
from medalist.workspace.folds import Folds
from medalist.workspace.subsets import comparable_columns, load_targets

log = logging.getLogger("medalist.ensemble")

__all__ = ["Members", "load_members", "write_ensemble_run", "fold_scores", "fit_mask", "scored_folds"]


@dataclass
class Members:
    """Finished runs' predictions, aligned to the train rows of ``data`` (OOF) and to test.

    ``oof[i]`` is (n, K) (K = 1 for binary/regression), NaN on rows never validated; ``fold`` is each
    train row's validation fold in repeat 0 (-1: never validated).
    """

    runs: list[Run]
    data: CompetitionData
    metric: Metric
    oof: list[np.ndarray]
    test: list[np.ndarray]
    fold: np.ndarray
    folds_hash: str
    pred_columns: list[str] = field(default_factory=list)
    first: RunRecord | None = None  # the first member's record: task, classes and train hash they share
    scheme: str = ""  # the folds' scheme; "time": ensembles are fitted on earlier folds only
    # time folds: per fold, the train rows its own models were fitted on (earlier rows, gap respected)
    train_masks: dict[int, np.ndarray] | None = None

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.runs]

    @property
    def y(self) -> np.ndarray:
        d = self.data
        return target_array(d.task, d.target, d.train)

    @property
    def valid(self) -> np.ndarray:
        """Rows every member validated (the rows a blend or stack can be fitted and scored on)."""
        ok = self.fold >= 0
        for p in self.oof:
            ok &= ~np.isnan(p).any(axis=1)
        return ok

    def out(self, pred: np.ndarray) -> np.ndarray:
        """(n, K) -> the shape the metric and run files expect: (n,) when K == 1."""
        return pred[:, 0] if pred.ndim == 2 and pred.shape[1] == 1 and self.data.task != "multilabel" else pred


def fit_mask(m: Members, f: int, rows: np.ndarray) -> np.ndarray:
    """Rows (of ``rows``) a blend's weights or a stack's meta model for fold ``f`` may be fitted on.

    Other folds' rows; on time folds only the rows fold ``f``'s own models trained on (earlier folds,
    the folds' gap respected), so no ensemble for a fold looks at a later one.
    """
    if m.scheme == "time" and m.train_masks is not None:
        return rows & m.train_masks.get(int(f), np.zeros(len(rows), dtype=bool))
    return rows & (m.fold != f)


def scored_folds(m: Members, rows: np.ndarray) -> list[int]:
    """Folds of ``rows`` an ensemble can predict: those with rows to fit on (time folds: not the earliest one)."""
    return [int(f) for f in np.unique(m.fold[rows]) if fit_mask(m, int(f), rows).any()]


def _aligned(frame: pl.DataFrame, ids: pl.Series, cols: list[str], run_id: str, what: str) -> np.ndarray:
    key = ids.name
    right = frame.select(pl.col(key).cast(ids.dtype, strict=False), *cols)
    out = pl.DataFrame({key: ids}).join(right, on=key, how="left", maintain_order="left")
    if out.height != ids.len():
        raise RunError(f"run '{run_id}': {what}", expected="one row per id", found=f"{out.height} rows for {ids.len()} ids")
    missing = int(out.get_column(cols[0]).is_null().sum())
    if missing == ids.len():
        raise RunError(f"run '{run_id}': {what}", expected="predictions for this competition's ids",
                       found="no matching id", fix="use runs of this workspace")
    return out.select(pl.col(cols).cast(pl.Float64)).to_numpy()


def load_members(ws, run_ids: list[str], *, min_runs: int = 1, features: bool = False) -> Members:
    """Open finished runs and align their OOF/test predictions; refuse mixed folds, tasks or columns.

    Only the id, target, group and time columns are read (train-only auxiliary columns and list-column
    signals play no part); ``features=True`` (a stack ``--with-features``) also reads the features of
    the members' column settings, less the columns test lacks and nested ones (logged).

    >>> m = load_members(Workspace.find(), ["lgbm-001", "logreg-001"])
    >>> m.ids, m.oof[0].shape, m.test[1].shape, int(m.valid.sum())
    (['lgbm-001', 'logreg-001'], (398, 1), (171, 1), 398)
    """
    if len(run_ids) < min_runs:
        raise RunError("runs", expected=f"at least {min_runs} run ids", found=f"{len(run_ids)}",
                       fix="list the runs to combine, e.g. `medalist blend lgbm-001 xgb-001`")
    dup = sorted({r for r in run_ids if run_ids.count(r) > 1})
    if dup:
        raise RunError("runs", expected="each run once", found=f"{dup} repeated", fix="drop the repeats")
    runs = [Run.open(ws, r) for r in run_ids]
    first = None
    for run in runs:
        rec = run.record
        if rec.status != "done":
            raise RunError(f"run '{run.id}'", expected="a finished run", found=f"status '{rec.status}'",
                           fix=f"finish it first (`medalist train CONFIG --resume {run.id}`) or leave it out")
        if first is None:
            first = (run, rec)
            continue
        r0, i0 = first
        if rec.folds_hash != i0.folds_hash:
            raise FoldsError(f"run '{run.id}'", expected=f"the folds of '{r0.id}' (hash {i0.folds_hash})",
                             found=f"folds hash {rec.folds_hash}",
                             fix="combine only runs made on the same folds.parquet (retrain the others)")
        for key in ("task", "pred_columns"):
            if getattr(rec, key) != getattr(i0, key):
                raise RunError(f"run '{run.id}'", expected=f"{key} {getattr(i0, key)!r} like '{r0.id}'",
                               found=f"{getattr(rec, key)!r}", fix="combine runs of one competition and task")
    folds = Folds.load(ws.folds_path)
    r0, i0 = first
    if i0.folds_hash != folds.hash:
        raise FoldsError(f"run '{r0.id}'", expected=f"the workspace's current folds (hash {folds.hash})",
                         found=f"folds hash {i0.folds_hash}", fix="retrain the runs on the current folds.parquet")
    data = _feature_data(ws, runs) if features else load_targets(ws)
    metric = get_metric(ws.competition.metric)
    cols = list(i0.pred_columns or ["pred"])
    ids, tids = data.train.get_column(data.id), data.test.get_column(data.id)
    oofs, tests, fold = [], [], None
    for run in runs:
        oof = run.oof()
        oofs.append(_aligned(oof, ids, cols, run.id, "oof.parquet"))
        tests.append(_aligned(run.test(), tids, cols, run.id, "test.parquet"))
        if fold is None:
            f = _aligned(oof, ids, ["fold"], run.id, "oof.parquet")[:, 0]
            fold = np.where(np.isnan(f), -1, f).astype(np.int64)
    scheme = str(folds.meta.get("scheme") or "")
    masks = None
    if scheme == "time":
        masks = {}
        for s in folds.splits(data.train):
            if s.repeat == 0:
                mask = np.zeros(data.train.height, dtype=bool)
                mask[s.train_idx] = True
                masks[s.fold] = mask
    return Members(runs=runs, data=data, metric=metric, oof=oofs, test=tests, fold=fold, folds_hash=folds.hash,
                   pred_columns=cols, first=i0, scheme=scheme, train_masks=masks)


def _feature_data(ws, runs: list[Run]) -> CompetitionData:
    """The competition data with the members' features that test has too, as plain values."""
    columns, left_out = comparable_columns(ws, _member_columns(runs))
    if left_out:
        log.info("raw features for the stack leave out %s (not in test, or nested values)", ", ".join(left_out))
    return load_competition_data(ws, columns)


def _member_columns(runs: list[Run]):
    """The column settings the members were trained with (the first model run's ``columns:``), so train-only
    columns (auxiliary targets, vote counts) and list columns the members left out do not stop the ensemble."""
    from medalist.core.config import ColumnsConfig

    for run in runs:
        p = run.path / "config.yaml"
        cfg = (yaml.safe_load(p.read_text()) or {}) if p.is_file() else {}
        if isinstance(cfg.get("columns"), dict):
            return ColumnsConfig.model_validate(cfg["columns"])
    for run in runs:  # members that are blends/stacks: their own members' settings
        if run.record.members:
            got = _member_columns([Run(m, run.path.parent / m) for m in run.record.members if (run.path.parent / m / "run.json").is_file()])
            if got is not None:
                return got
    return None


def fold_scores(m: Members, pred: np.ndarray, rows: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Per-fold metric of an (n, K) OOF prediction on the validated rows."""
    rows = m.valid if rows is None else rows
    y, out = m.y, []
    for f in np.unique(m.fold[rows]):
        idx = rows & (m.fold == f)
        out.append({"repeat": 0, "fold": int(f), "score": m.metric(y[idx], m.out(pred[idx])),
                    "n_valid": int(idx.sum()), "seconds": 0.0})
    return out


def _scope(m: Members, rows: np.ndarray) -> dict[str, Any]:
    """What the ensemble's CV covers; on time folds it skips the earliest fold(s), so the members are scored on the same rows."""
    left = sorted({int(f) for f in np.unique(m.fold[m.valid])} - {int(f) for f in np.unique(m.fold[rows])})
    if not left:
        return {}
    y = m.y
    return {"scored_folds": [int(f) for f in np.unique(m.fold[rows])], "unscored_folds": left,
            "cv_scope": "time folds: an ensemble is fitted on earlier folds only, so folds "
                        f"{left} (no earlier OOF) are not scored; compare members on the same folds (members_on_scored)",
            "members_on_scored": {r: float(m.metric(y[rows], m.out(p[rows]))) for r, p in zip(m.ids, m.oof)}}


def write_ensemble_run(ws, m: Members, *, stem: str, kind: str, oof: np.ndarray, test: np.ndarray,
                       spec: dict[str, Any], extra_metrics: dict[str, Any] | None = None, note: str = "",
                       seconds: float = 0.0, tracking: bool = True, files: dict[str, Any] | None = None) -> Run:
    """Write a blend/stack as a run folder with the same files as a trained run; return it.

    ``files`` maps a path inside the run folder (``models/blend.json``) to a dict (written as JSON)
    or a str (written as text): the state :func:`medalist.ensemble.reapply.predict_ensemble` reads.
    Every file is written before run.json says ``done``. A tracking server that is down does not
    fail it: the record gets ``tracking_error`` instead.
    """
    t0 = time.perf_counter()
    d = m.data
    cols = m.pred_columns
    rows = m.valid & ~np.isnan(oof).any(axis=1)  # time folds: the earliest fold has no earlier OOF to fit on
    oof = np.where(rows.reshape(-1, 1), oof, np.nan)
    folds = fold_scores(m, oof, rows)
    overall = m.metric(m.y[rows], m.out(oof[rows]))
    scores = [f["score"] for f in folds]
    summary = {"metric": m.metric.name, "direction": m.metric.direction, "oof": overall,
               "mean": float(np.mean(scores)), "std": float(np.std(scores)), "folds": folds,
               "n_validated": int(rows.sum()), **_scope(m, rows), **(extra_metrics or {})}
    frame = {d.id: d.train.get_column(d.id), "fold": pl.Series(m.fold.astype(np.int16))}
    frame.update({c: oof[:, i] for i, c in enumerate(cols)})
    tframe = {d.id: d.test.get_column(d.id)}
    tframe.update({c: test[:, i] for i, c in enumerate(cols)})
    resolved = {"competition": ws.competition.model_dump(mode="json"), "ensemble": {"kind": kind, **spec}}
    w = RunWriter.create(
        ws.runs_dir, stem, model=f"{kind}:{spec.get('method') or spec.get('meta')}", config=None, overrides=[],
        members=m.ids, config_hash=stable_hash({"ensemble": resolved["ensemble"], "folds": m.folds_hash}),
        folds_hash=m.folds_hash, train_hash=m.first.train_hash if m.first else None, seeds=[], full_fit=False, note=note,
        task=d.task, classes=m.first.classes if m.first else None, pred_columns=cols,
    )
    with w.recording():
        w.yaml("config.yaml", resolved)
        w.provenance(ws.root)
        w.parquet("oof.parquet", pl.DataFrame(frame))
        w.parquet("test.parquet", pl.DataFrame(tframe))
        w.json("metrics.json", summary)
        for name, content in (files or {}).items():
            if isinstance(content, str):
                w.text(name, content)
            else:
                w.json(name, content)
        # run.json only now: a blend is written in one go, so no 'running' record is needed first
        w.finish(seconds=round(seconds + time.perf_counter() - t0, 3), cv=overall, metric=m.metric.name)
    if tracking:
        w.mirror(ws)
    return w.run
