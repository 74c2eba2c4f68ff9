"""Build, validate and record submissions; score them locally for local competitions.

A submission is written in the sample submission's exact format (columns, column order, id order)
and validated before it is recorded in ``submissions/submissions.parquet`` with the CV of the run
that produced it — the ledger that links every leaderboard score to an experiment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import ConfigError, SubmissionError
from medalist.core.io import atomic_write, atomic_write_json, atomic_write_parquet
from medalist.kaggle.formats import write_format
from medalist.kaggle.ledger import LEDGER_SCHEMA, description, read_ledger
from medalist.metrics.registry import get_metric
from medalist.runs.store import Run
from medalist.workspace.data import read_table, target_array
from medalist.workspace.formats import SubmissionFormat, class_labels, workspace_format

__all__ = ["build_submission", "validate_submission", "score_local", "submit", "read_ledger", "Submission", "record_kernel",
           "pushed_kernel", "KERNELS_FILE"]

KERNELS_FILE = ".medalist/kernels.json"  # {run id: {"kernel": OWNER/SLUG, "version": N, "dataset": OWNER/SLUG, "time": ...}}


@dataclass
class Submission:
    file: Path
    run: str | None
    cv: float | None
    public: float | None
    private: float | None
    message: str
    record: dict[str, Any]
    format: SubmissionFormat | None = None
    notes: list[str] | None = None  # how the run was written (threshold, argmax, top-k)
    cv_note: str | None = None  # the run's CV was scored with another metric: re-scored, or why not


def _sample(ws) -> pl.DataFrame:
    return read_table(ws.sample_submission_path, what="sample submission")


def build_submission(ws, run: Run, fmt: SubmissionFormat | None = None) -> pl.DataFrame:
    """The run's test predictions in the sample submission's format (``fmt``, default: the workspace's,
    see :func:`medalist.workspace.formats.workspace_format`)."""
    fmt = fmt or workspace_format(ws, classes=run.record.classes)
    return write_format(ws, run, fmt)[0]


def validate_submission(sub: pl.DataFrame, sample: pl.DataFrame, *, id_col: str, task: str, metric=None, file: str = "submission",
                        fmt: SubmissionFormat | None = None, classes: list | None = None) -> None:
    """Check a submission against the sample submission; raise SubmissionError on the first problem.

    Checks columns and their order, row count, unknown/missing/duplicate ids, id order, NaN/inf and
    what the format ``fmt`` asks for (without one: the metric's): probabilities in [0, 1], class labels
    (of ``classes``) in a label column, at most k labels per row in a ranked one.
    """
    like = "write one row per id of the sample submission, with its columns and id order"
    if list(sub.columns) != list(sample.columns):
        raise SubmissionError(f"{file}: columns", expected=f"{sample.columns} (the sample submission's, in order)", found=f"{sub.columns}", fix=like)
    if sub.height != sample.height:
        raise SubmissionError(f"{file}: rows", expected=f"{sample.height} rows (as the sample submission)", found=f"{sub.height}", fix=like)
    ids, want = sub.get_column(id_col), sample.get_column(id_col)
    if ids.is_duplicated().any():
        raise SubmissionError(f"{file}: column '{id_col}'", expected="unique ids", found=f"duplicates, e.g. {ids.filter(ids.is_duplicated())[0]!r}", fix=like)
    ids_s, want_s = ids.cast(pl.String), want.cast(pl.String)
    unknown = ids_s.filter(~ids_s.is_in(want_s.implode()))
    if len(unknown):
        raise SubmissionError(f"{file}: column '{id_col}'", expected="only the sample submission's ids", found=f"{len(unknown)} unknown ids, e.g. {unknown[0]!r}", fix=like)
    if not (ids_s == want_s).all():
        raise SubmissionError(f"{file}: column '{id_col}'", expected="the sample submission's id order", found="another order", fix="sort rows like sample_submission.csv")
    if fmt is not None:
        needs_proba = fmt.kind == "probabilities"
        _check_format_values(sub, fmt, classes, file)
    else:
        needs_proba = metric is not None and metric.needs == "proba" and task != "regression"
    for c in sub.columns:
        if c == id_col:
            continue
        s = sub.get_column(c)
        if s.null_count():
            raise SubmissionError(f"{file}: column '{c}'", expected="a value in every row", found=f"{s.null_count()} missing",
                                  fix="fill the missing predictions")
        if s.dtype.is_float():
            bad = int((s.is_nan() | s.is_infinite()).sum())
            if bad:
                raise SubmissionError(f"{file}: column '{c}'", expected="finite numbers", found=f"{bad} NaN/inf values",
                                      fix="fill or clip the NaN/inf predictions")
        if needs_proba:
            if not s.dtype.is_numeric():
                raise SubmissionError(f"{file}: column '{c}'", expected="probabilities", found=f"dtype {s.dtype}",
                                      fix="write numbers in [0, 1]")
            lo, hi = s.min(), s.max()
            if lo < 0 or hi > 1:
                raise SubmissionError(f"{file}: column '{c}'", expected="probabilities in [0, 1]", found=f"range [{lo:.4g}, {hi:.4g}]",
                                      fix="write probabilities, not scores or labels (e.g. apply a sigmoid)")


def _check_format_values(sub: pl.DataFrame, fmt: SubmissionFormat, classes: list | None, file: str) -> None:
    if fmt.kind == "label" and classes:
        known = {str(c) for c in classes}
        s = sub.get_column(fmt.columns[0]).drop_nulls()
        bad = s.filter(~s.cast(pl.String).is_in(sorted(known)))
        if len(bad):
            raise SubmissionError(f"{file}: column '{fmt.columns[0]}'", expected=f"class labels ({sorted(known)[:10]})",
                                  found=f"{len(bad)} other values, e.g. {bad[0]!r}",
                                  fix="write the class label per row (the sample submission takes labels, not probabilities)")
    if fmt.kind == "ranked" and fmt.k:
        n = sub.get_column(fmt.columns[0]).cast(pl.String).str.split(" ").list.len().max()
        if n is not None and n > fmt.k:
            raise SubmissionError(f"{file}: column '{fmt.columns[0]}'", expected=f"at most {fmt.k} space-separated labels per row",
                                  found=f"rows with {n}", fix=f"keep the top {fmt.k}")


def _encode(values: pl.Series, classes: list) -> np.ndarray:
    lut = {str(c): i for i, c in enumerate(classes)}
    return np.array([lut.get(str(v), -1) for v in values.to_list()])


def score_local(ws, sub: pl.DataFrame, fmt: SubmissionFormat | None = None) -> dict[str, float]:
    """Score a validated submission (written in format ``fmt``) on the hidden answers of a local competition."""
    comp = ws.competition
    path = ws.answers_path
    if path is None or not path.is_file():
        raise SubmissionError("--local", expected="a local competition (medalist init --from-table)", found="no hidden answers in this workspace")
    answers = pl.read_parquet(path)
    if fmt is not None and fmt.kind == "rle":
        return _score_rle(answers, sub, comp, fmt)
    metric = get_metric(comp.metric)
    ranked = fmt is not None and fmt.kind == "ranked"
    classes: list = []
    if comp.task in ("binary", "multiclass") and not ranked:  # a ranked key (recommender) needs no train labels
        train_target = read_table(ws.train_path, what="train", columns=[comp.targets[0]]).get_column(comp.targets[0])
        classes = sorted(set(train_target.unique().to_list()) | set(answers.get_column(comp.targets[0]).unique().to_list()))
    value_cols = [c for c in sub.columns if c != comp.id]
    renamed = sub.rename({c: f"__sub_{c}" for c in value_cols}).with_columns(pl.col(comp.id).cast(answers.schema[comp.id]))
    joined = answers.join(renamed, on=comp.id, how="left")
    subcols = [f"__sub_{c}" for c in value_cols]
    out: dict[str, float] = {}
    for usage in ("Public", "Private"):
        part = joined.filter(pl.col("usage") == usage)
        if comp.task == "regression":
            y = part.get_column(comp.targets[0]).to_numpy().astype(float)
            p = part.get_column(subcols[0]).to_numpy()
        elif comp.task == "multilabel":
            y = part.select(comp.targets).to_numpy()
            p = part.select(subcols).to_numpy()
        elif comp.task == "distribution":  # answers hold the votes; the submission one column per target column
            y = target_array(comp.task, comp.targets, part)
            p = part.select([f"__sub_{c}" for c in comp.targets]).to_numpy()
        elif fmt is not None and fmt.kind == "ranked":
            y = part.get_column(comp.targets[0]).cast(pl.String).to_list()
            p = part.get_column(subcols[0]).cast(pl.String).fill_null("").to_list()
        else:
            y = _encode(part.get_column(comp.targets[0]), classes)
            p = _class_predictions(part, fmt, comp.task, value_cols, classes)
        out[usage.lower()] = metric(y, p)
    return out


def _score_rle(answers: pl.DataFrame, sub: pl.DataFrame, comp, fmt: SubmissionFormat) -> dict[str, float]:
    """Mean per-image dice of RLE masks (empty on empty = 1): the answers' column named like the
    submission's (else the target) holds the true RLE strings."""
    from medalist.postprocess.rle import rle_dice

    col = fmt.columns[0]
    truth = col if col in answers.columns else comp.targets[0]
    if answers.schema[truth] != pl.String:
        raise SubmissionError(f"answers column '{truth}'", expected="RLE strings (a segmentation competition)",
                              found=f"dtype {answers.schema[truth]}", fix="rebuild the local competition with RLE answers")
    joined = answers.join(sub.select(comp.id, pl.col(col).alias("__sub")).with_columns(pl.col(comp.id).cast(answers.schema[comp.id])),
                          on=comp.id, how="left")
    out: dict[str, float] = {}
    for usage in ("Public", "Private"):
        part = joined.filter(pl.col("usage") == usage)
        d = [rle_dice(t, p) for t, p in zip(part.get_column(truth).to_list(), part.get_column("__sub").to_list())]
        out[usage.lower()] = float(np.mean(d)) if d else float("nan")
    return out


def _class_predictions(part: pl.DataFrame, fmt: SubmissionFormat | None, task: str, value_cols: list[str], classes: list) -> np.ndarray:
    """A classification submission as the metric takes it: (n,) positive-class values or (n, K) class scores."""
    kind = fmt.kind if fmt is not None else ("label" if task == "multiclass" and len(value_cols) == 1 else "probabilities")
    if kind == "label":
        codes = _encode(part.get_column(f"__sub_{value_cols[0]}"), classes)
        return np.eye(len(classes))[codes] if task == "multiclass" else codes.astype(float)
    by_label = {str(v): c for c, v in ((fmt.mapping or {}).items() if fmt is not None else ((c, c) for c in value_cols))}
    if task == "multiclass":
        cols = [part.get_column(f"__sub_{by_label[str(c)]}").to_numpy() if str(c) in by_label else np.zeros(part.height)
                for c in classes]
        return np.column_stack(cols)
    if str(classes[-1]) in by_label or len(value_cols) == 1:
        return part.get_column(f"__sub_{by_label.get(str(classes[-1]), value_cols[0])}").to_numpy()
    return 1.0 - part.get_column(f"__sub_{by_label[str(classes[0])]}").to_numpy()


def _next_file(ws, stem: str) -> Path:
    ws.submissions_dir.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem)
    n = 1
    while (ws.submissions_dir / f"{stem}-{n:03d}.csv").exists():
        n += 1
    return ws.submissions_dir / f"{stem}-{n:03d}.csv"


def _kernels(ws) -> dict[str, Any]:
    import json

    path = ws.root / KERNELS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as e:
        raise ConfigError(str(path), expected="JSON written by medalist", found=f"unreadable ({e})", fix="delete it and push again") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), expected="an object {run id: notebook}", found=type(data).__name__, fix="delete it and push again")
    return data


def record_kernel(ws, run_ids: list[str], kernel: str, version: int, dataset: str) -> dict[str, Any]:
    """Remember that ``run_ids`` were pushed as notebook ``kernel`` (OWNER/SLUG) at ``version``, reading the package
    dataset ``dataset``, in ``.medalist/kernels.json`` (so ``medalist submit RUN`` can submit that notebook version
    without naming it); a later push of a run replaces its entry. Returns the whole mapping."""
    if not isinstance(kernel, str) or kernel.count("/") != 1 or not all(kernel.split("/")):
        raise SubmissionError("kernel", expected="OWNER/NOTEBOOK", found=repr(kernel))
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SubmissionError(f"version of notebook {kernel}", expected="a version number >= 1 (from the push)", found=repr(version))
    data = _kernels(ws)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for rid in run_ids:
        data[rid] = {"kernel": kernel, "version": version, "dataset": dataset, "time": now}
    atomic_write_json(ws.root / KERNELS_FILE, data)
    return data


def pushed_kernel(ws, run_id: str) -> dict[str, Any] | None:
    """The notebook ``run_id`` was last pushed as (``{"kernel", "version", "dataset", "time"}``), or None."""
    rec = _kernels(ws).get(run_id)
    return rec if isinstance(rec, dict) and rec.get("kernel") and rec.get("version") else None


def submit(ws, run_id: str | None = None, *, file: Path | None = None, message: str = "", local: bool = False,
           upload: bool | None = None, kernel: str | None = None, version: int | None = None,
           use_pushed: bool | None = None, api=None) -> Submission:
    """Write (or take) a submission, validate it, optionally score it locally, record it.

    >>> s = submit(Workspace.find(), "lgbm-001", message="baseline", local=True)
    >>> s.file.name, round(s.cv, 4), round(s.public, 4), round(s.private, 4)
    ('lgbm-001-001.csv', 0.9906, 0.9936, 0.9929)

    In a workspace made by ``medalist init --from-kaggle`` (a ``kaggle.yaml``), the file is also
    uploaded to Kaggle (``upload=False`` skips it) with a description carrying the run id, CV and
    git commit; code competitions submit a notebook version instead (``kernel``/``version``).
    ``use_pushed=True`` submits the notebook version recorded by :func:`record_kernel` for ``run_id``
    (``version`` overrides its version); ``None`` does so in a code competition (``code: true`` in
    ``kaggle.yaml``) when the run has a record and no ``kernel`` is given.
    """
    comp = ws.competition
    try:
        metric = get_metric(comp.metric)
    except ConfigError as e:
        raise e.within("medalist.yaml: competition.metric") from None
    sample = _sample(ws)
    run = Run.open(ws, run_id) if run_id is not None else None
    fmt = workspace_format(ws, classes=run.record.classes if run is not None else None)
    notes: list[str] = []
    if file is not None:
        if not Path(file).is_file():
            raise SubmissionError(f"--file {file}", expected="an existing CSV file", found="no such file", fix="check the path")
        sub = read_table(Path(file), what="submission")
        label = str(file)
    else:
        if run is None:
            raise SubmissionError("submit", expected="a RUN id or --file", found="neither")
        sub, notes = write_format(ws, run, fmt)
        label = f"submission of {run_id}"
    try:
        if comp.id in sub.columns:  # a missing id column is reported by validate_submission
            sub = sub.with_columns(pl.col(comp.id).cast(sample.schema[comp.id]))
    except Exception:
        raise SubmissionError(f"{label}: column '{comp.id}'", expected=f"ids of dtype {sample.schema[comp.id]}", found=str(sub.schema.get(comp.id)),
                              fix="use the sample submission's ids") from None
    classes = (run.record.classes if run is not None else None) or _train_classes(ws, fmt)
    validate_submission(sub, sample, id_col=comp.id, task=comp.task, metric=metric, file=label, fmt=fmt, classes=classes)
    cv, cv_note = _current_cv(ws, run, metric)
    scores = score_local(ws, sub, fmt) if local else {}
    out = _next_file(ws, run_id or Path(file).stem)
    atomic_write(out, lambda p: sub.write_csv(p))
    record = {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run": run_id,
        "file": str(out.relative_to(ws.root)),
        "metric": "dice" if fmt.kind == "rle" and local else metric.name,  # RLE is scored by per-image dice
        "cv": cv,
        "public": scores.get("public"),
        "private": scores.get("private"),
        "local": bool(local),
        "message": message,
    }
    try:
        kernel, version = _which_kernel(ws, run, kernel, version, use_pushed)
        record.update(_upload(ws, run, out, message, local=local, upload=upload, kernel=kernel, version=version, api=api, cv=cv))
    except BaseException:
        out.unlink(missing_ok=True)  # not submitted: no orphan file beside the ledger
        raise
    ledger = read_ledger(ws)
    row = pl.DataFrame([{c: record.get(c) for c in LEDGER_SCHEMA}], schema=LEDGER_SCHEMA)
    ledger = pl.concat([ledger, row], how="diagonal_relaxed") if ledger.height else row
    atomic_write_parquet(ws.submissions_dir / "submissions.parquet", ledger)
    return Submission(out, run_id, record["cv"], record["public"], record["private"], message, record, fmt, notes, cv_note)


def _current_cv(ws, run: Run | None, metric) -> tuple[float | None, str | None]:
    """The run's CV under the current metric, and a note when it was scored with another one."""
    if run is None:
        return None, None
    from medalist.runs.rescore import current_cv

    cur = current_cv(ws, run, metric)
    if not cur["stale"]:
        return cur["cv"], None
    old = f"{cur['scored_with']} = {run.cv:.6g}" if run.cv is not None else cur["scored_with"]
    if cur["rescored"]:
        return cur["cv"], f"CV re-scored with the current metric {cur['metric']} (the run was scored with {old})"
    return None, (f"CV is stale: the run was scored with {old}, medalist.yaml now says {cur['metric']}, and the OOF "
                  f"could not be re-scored ({cur['reason']}); retrain the run")


def _train_classes(ws, fmt: SubmissionFormat) -> list | None:
    """The train target's labels, when a label submission's values are to be checked against them."""
    if fmt.kind != "label" or ws.competition.task not in ("binary", "multiclass"):
        return None
    target = ws.competition.targets[0]
    return class_labels(read_table(ws.train_path, what="train", columns=[target]), target)


def _which_kernel(ws, run: Run | None, kernel: str | None, version: int | None, use_pushed: bool | None) -> tuple[str | None, int | None]:
    """The notebook and version to submit: the given ones, or the run's pushed notebook (see :func:`submit`)."""
    if use_pushed is False or (use_pushed is None and kernel is not None):
        return kernel, version
    if use_pushed and kernel is not None:
        raise SubmissionError("--kernel/--pushed-kernel", expected="one of them", found="both",
                              fix="drop --kernel to submit the notebook RUN was pushed as")
    if use_pushed is None:
        from medalist.kaggle.api import kaggle_settings

        settings = kaggle_settings(ws)
        rec = pushed_kernel(ws, run.id) if run is not None and settings is not None and settings.code else None
        return (rec["kernel"], version or int(rec["version"])) if rec else (kernel, version)
    if run is None:
        raise SubmissionError("--pushed-kernel", expected="a RUN whose pushed notebook to submit", found="--file")
    rec = pushed_kernel(ws, run.id)
    if rec is None:
        raise SubmissionError(f"--pushed-kernel: run '{run.id}'", expected="a run pushed as a Kaggle notebook",
                              found=f"no entry in {KERNELS_FILE}",
                              fix="push it as a notebook first, or pass --kernel OWNER/NOTEBOOK --version N")
    return rec["kernel"], version or int(rec["version"])


def _upload(ws, run: Run | None, out: Path, message: str, *, local: bool, upload: bool | None, kernel: str | None,
            version: int | None, api, cv: float | None = None) -> dict[str, Any]:
    """Upload to Kaggle when the workspace is a Kaggle competition; the ledger fields it adds."""
    from medalist.kaggle.api import kaggle_settings, upload_submission

    settings = kaggle_settings(ws)
    if kernel is not None or version is not None:
        if settings is None:
            raise SubmissionError("--kernel/--version", expected="a Kaggle workspace (medalist init --from-kaggle COMP)",
                                  found="no kaggle.yaml in this workspace")
        upload = True
    if local or upload is False or settings is None:
        if upload and settings is None:
            raise SubmissionError("submit --upload", expected="a Kaggle workspace (medalist init --from-kaggle COMP)",
                                  found="no kaggle.yaml in this workspace")
        return {}
    commit = None
    if run is not None:
        git = run._json("git.json")
        commit = git.get("commit")
    desc = description(run.id if run else None, cv, commit, message)
    res = upload_submission(settings.competition, out, desc, kernel=kernel, version=version, api=api)
    return {"competition": settings.competition, "kaggle_ref": res["ref"], "status": "pending", "description": desc,
            "kernel": f"{kernel}@{version}" if kernel else None, "git": commit[:7] if commit else None}
