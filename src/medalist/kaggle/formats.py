"""Write a run's test predictions in the sample submission's format (:mod:`medalist.workspace.formats`).

* ``probabilities``: each sample column takes the prediction of the class it maps to, in the sample's order
  (binary runs: the positive class's probability, and one minus it for the negative class);
* ``label``: multiclass by argmax, binary at the run's threshold (``threshold`` in metrics.json) else 0.5 —
  the class labels of the train target;
* ``ranked``: the top-k classes by probability, space-separated (a run whose prediction is already a
  string is written as it is);
* ``rle``: the run's string predictions (precomputed RLE) as they are;
* ``regression``: ``pred``, or ``pred_<target>`` per column of a multi-target run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import SubmissionError
from medalist.runs.store import Run
from medalist.workspace.formats import SubmissionFormat

__all__ = ["write_format", "run_threshold"]


def run_threshold(run: Run) -> float | None:
    """The decision threshold a run recorded (``threshold`` in metrics.json or run.json), or None.

    ``run`` may be any object with ``record`` and ``test()`` (a packaged run has no metrics).
    """
    for src in (getattr(run, "metrics", None) or {}, run.record.model_extra or {}):
        t = src.get("threshold") if isinstance(src, dict) else None
        if isinstance(t, (int, float)) and not isinstance(t, bool) and 0.0 < float(t) < 1.0:
            return float(t)
    return None


def _col_of(label: Any, classes: list, pcols: list[str], task: str, where: str) -> tuple[str, bool]:
    """The prediction column holding class ``label``'s probability, and whether it is ``1 - pred``."""
    keys = [str(c) for c in classes]
    if str(label) not in keys:
        raise SubmissionError(where, expected=f"a class label of the run ({classes[:12]})", found=repr(label),
                              fix="map the column to a class in medalist.yaml: submission.columns")
    i = keys.index(str(label))
    if task == "binary" and len(pcols) == 1:
        return pcols[0], i == 0
    return pcols[i], False


def _probabilities(out: pl.DataFrame, fmt: SubmissionFormat, run: Run, id_col: str, where: str) -> list[pl.Expr]:
    rec = run.record
    pcols = rec.pred_columns or [c for c in out.columns if c.startswith("pred")]
    mapping = fmt.mapping or {}
    exprs = []
    for c in fmt.columns:
        label = mapping.get(c, c)
        if rec.task in ("multilabel", "distribution"):
            name = f"pred_{label}"
            if name not in out.columns:
                raise SubmissionError(f"{where}: column '{c}'", expected=f"a prediction of '{label}' in the run",
                                      found=f"columns {pcols}", fix="name the sample submission's columns like the target columns")
            exprs.append(pl.col(name).alias(c))
            continue
        col, flip = _col_of(label, rec.classes or [], pcols, rec.task or "", f"{where}: column '{c}'")
        exprs.append((1.0 - pl.col(col)).alias(c) if flip else pl.col(col).alias(c))
    return exprs


def _labels(out: pl.DataFrame, fmt: SubmissionFormat, run: Run, notes: list[str]) -> pl.Series:
    rec = run.record
    classes = list(rec.classes or [])
    pcols = rec.pred_columns or ["pred"]
    col = fmt.columns[0]
    if not classes:
        raise SubmissionError(f"run '{run.record.id}'", expected="a classification run (class labels) for a label submission",
                              found=f"task '{rec.task}'", fix="submit a binary or multiclass run")
    probs = out.select(pcols).to_numpy().astype(float)
    if len(pcols) == 1:
        thr = run_threshold(run)
        notes.append(f"labels at threshold {thr:g} (from the run)" if thr is not None else
                     "labels at threshold 0.5 (the run records no threshold)")
        idx = (np.nan_to_num(probs[:, 0], nan=-1.0) >= (thr if thr is not None else 0.5)).astype(int)
    else:
        notes.append("labels by argmax of the class probabilities")
        idx = np.nan_to_num(probs, nan=-1.0).argmax(axis=1)
    values = [classes[i] for i in idx]
    missing = np.isnan(probs).all(axis=1)
    return pl.Series(col, [None if m else v for v, m in zip(values, missing)])


def _ranked(out: pl.DataFrame, fmt: SubmissionFormat, run: Run, notes: list[str]) -> pl.Series:
    rec = run.record
    pcols = rec.pred_columns or ["pred"]
    col, k = fmt.columns[0], fmt.k or 1
    if len(pcols) == 1 and out.schema[pcols[0]] == pl.String:
        return out.get_column(pcols[0]).alias(col)
    classes = list(rec.classes or [])
    if len(classes) < 2 or len(pcols) != len(classes):
        raise SubmissionError(f"run '{run.record.id}'", expected="one probability column per class (or ranked strings) for a ranked submission",
                              found=f"columns {pcols}", fix="submit a multiclass run")
    spaced = [c for c in classes if len(str(c).split()) != 1]
    if spaced:
        raise SubmissionError(f"run '{run.record.id}'", expected="class labels without spaces for a space-separated ranked submission",
                              found=f"labels {spaced[:3]}", fix="recode the target's labels without spaces (e.g. Very_Good)")
    probs = out.select(pcols).to_numpy().astype(float)
    order = np.argsort(-np.nan_to_num(probs, nan=-np.inf), axis=1, kind="stable")[:, :k]
    notes.append(f"top {k} classes by probability, best first")
    return pl.Series(col, [None if np.isnan(p).all() else " ".join(str(classes[j]) for j in row) for row, p in zip(order, probs)])


def write_format(ws, run: Run, fmt: SubmissionFormat) -> tuple[pl.DataFrame, list[str]]:
    """``run``'s test predictions in format ``fmt``, rows in the sample submission's id order; and notes on
    how (threshold, argmax, top-k) for the user."""
    from medalist.workspace.data import read_table

    comp = ws.competition
    id_col = comp.id
    where = comp.data.sample_submission
    sample = read_table(ws.sample_submission_path, what="sample submission")
    test = run.test()
    test = test.with_columns(pl.col(id_col).cast(sample.schema[id_col], strict=False)) if id_col in test.columns else test
    out = sample.select(id_col).join(test, on=id_col, how="left", maintain_order="left")
    notes: list[str] = []
    rec = run.record
    pcols = rec.pred_columns or [c for c in test.columns if c.startswith("pred")]
    if fmt.kind == "probabilities":
        return out.select(id_col, *_probabilities(out, fmt, run, id_col, where)), notes
    if fmt.kind == "label":
        return out.select(id_col).with_columns(_labels(out, fmt, run, notes)), notes
    if fmt.kind == "ranked":
        return out.select(id_col).with_columns(_ranked(out, fmt, run, notes)), notes
    if fmt.kind == "rle":
        if len(pcols) != 1 or out.schema[pcols[0]] != pl.String:
            raise SubmissionError(f"run '{run.record.id}'", expected="RLE strings in its test predictions (one string column)",
                                  found=f"columns {pcols} of dtypes {[str(out.schema[c]) for c in pcols]}",
                                  fix="encode the masks as RLE strings in the run's test.parquet, or submit them with --file")
        return out.select(id_col, pl.col(pcols[0]).alias(fmt.columns[0])), notes
    mapping = fmt.mapping or {}
    if len(fmt.columns) == 1 and len(pcols) == 1:
        return out.select(id_col, pl.col(pcols[0]).alias(fmt.columns[0])), notes
    exprs = []
    for c in fmt.columns:
        name = f"pred_{mapping.get(c, c)}"
        if name not in out.columns:
            raise SubmissionError(f"{where}: column '{c}'", expected=f"a prediction '{name}' in run '{run.record.id}'",
                                  found=f"columns {pcols}", fix="submit a run with one prediction per target, or map columns in "
                                  "medalist.yaml: submission: {format: regression, columns: {COLUMN: TARGET}}")
        exprs.append(pl.col(name).alias(c))
    return out.select(id_col, *exprs), notes
