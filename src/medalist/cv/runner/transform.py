"""Target transforms (``target_transform`` of an experiment) and the metric's domain around a fit.

Every model family fits the transformed target: the runner replaces the target column of a split's
train and valid rows with ``forward(y)`` before ``fit``, and maps the (seed-averaged) predictions
back with ``inverse`` before they are scored or stored, so OOF and test predictions are on the
target's own scale. ``box-cox`` fits its lambda on each split's TRAIN rows only (the full-data
refit on every train row) and the fitted transform is saved next to the split's models
(``models/r<repeat>_f<fold>.target.json``, ``models/full.target.json``) for
:func:`medalist.cv.predict.predict_run`.

``auto`` (the default) is ``log1p`` for metrics scored on log1p values (``rmsle``, ``msle``) and
``none`` otherwise; transforms apply to regression tasks only.

After the inverse, predictions are clipped into the metric's :class:`~medalist.metrics.registry.Domain`
(rmsle: ``> -1``; logloss: ``[0, 1]``); how many were clipped is recorded in the fold info.

>>> t = fit_transform("box-cox", np.array([1.0, 2.0, 4.0, 8.0]))
>>> bool(np.allclose(t.inverse(t.forward(np.array([3.0, 5.0]))), [3.0, 5.0]))
True
>>> fit_transform("log1p", np.array([0.0, 9.0])).forward(np.array([9.0])).round(4).tolist()
[2.3026]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import ConfigError, DataError, RunError
from medalist.core.io import atomic_write_text
from medalist.metrics.registry import Metric

__all__ = [
    "TRANSFORMS",
    "TargetTransform",
    "check_targets",
    "finish",
    "fit_transform",
    "load_transform",
    "prepare_transform",
    "resolve_transform",
    "run_fields",
    "save_transform",
    "score_fold",
    "split_transform",
    "transform_path",
]

TRANSFORMS = ("none", "log1p", "sqrt", "box-cox", "auto")
_LOG_METRICS = ("rmsle", "msle")
# what each transform's forward needs of y: (bound, open) -> y > bound or y >= bound
_NEEDS: dict[str, tuple[float, bool]] = {"log1p": (-1.0, True), "sqrt": (0.0, False), "box-cox": (0.0, True)}


@dataclass(frozen=True)
class TargetTransform:
    """A fitted target transform: ``kind`` and, for box-cox, the ``lam`` fitted on a split's train rows."""

    kind: str = "none"
    lam: float | None = None

    def forward(self, y: np.ndarray) -> np.ndarray:
        """The target as the model fits it."""
        y = np.asarray(y, dtype=np.float64)
        if self.kind == "log1p":
            return np.log1p(y)
        if self.kind == "sqrt":
            return np.sqrt(y)
        if self.kind == "box-cox":
            from scipy.special import boxcox

            return boxcox(y, self.lam)
        return y

    def inverse(self, p: np.ndarray) -> np.ndarray:
        """A prediction on the transformed scale back on the target's scale (box-cox: ``p`` is first clipped
        into the range its inverse is defined on; sqrt: negative ``p`` map to 0)."""
        if self.kind == "none":
            return p
        p = np.asarray(p, dtype=np.float64)
        if self.kind == "log1p":
            return np.expm1(p)
        if self.kind == "sqrt":
            return np.square(np.maximum(p, 0.0))
        if self.kind == "box-cox":
            from scipy.special import inv_boxcox

            lam = float(self.lam)
            if lam > 0:  # inv_boxcox is defined for lam * p + 1 > 0
                p = np.maximum(p, np.nextafter(-1.0 / lam, np.inf))
            elif lam < 0:
                p = np.minimum(p, np.nextafter(-1.0 / lam, -np.inf))
            return inv_boxcox(p, lam)
        raise ValueError(f"unknown target transform {self.kind!r}")

    def frames(self, target: str, *frames: pl.DataFrame | None) -> list[pl.DataFrame | None]:
        """``frames`` with column ``target`` replaced by ``forward`` of it (None stays None)."""
        if self.kind == "none":
            return list(frames)
        return [None if f is None else f.with_columns(pl.Series(target, self.forward(f.get_column(target).to_numpy())))
                for f in frames]

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "lambda": self.lam}


def resolve_transform(spec: str, task: str, metric: Metric, where: str = "target_transform") -> str:
    """The transform a run applies: ``auto`` resolved from the metric, checked against the task.

    >>> from medalist.metrics.registry import get_metric
    >>> resolve_transform("auto", "regression", get_metric("rmsle")), resolve_transform("auto", "binary", get_metric("auc"))
    ('log1p', 'none')
    """
    if spec not in TRANSFORMS:
        from medalist.core.errors import did_you_mean

        raise ConfigError(where, expected="one of " + ", ".join(TRANSFORMS), found=f"'{spec}'{did_you_mean(spec, TRANSFORMS)}")
    if spec == "auto":
        base = metric.name.split("(")[0]
        return "log1p" if task == "regression" and base in _LOG_METRICS else "none"
    if spec != "none" and task != "regression":
        raise ConfigError(where, expected="none or auto for a classification task (transforms apply to regression targets)",
                          found=f"'{spec}' on a {task} task", fix="remove target_transform or set it to none")
    return spec


def fit_transform(kind: str, y_train: np.ndarray) -> TargetTransform:
    """``kind`` fitted on the train rows' targets ``y_train`` (box-cox: ``scipy.stats.boxcox``'s lambda)."""
    if kind == "box-cox":
        from scipy.stats import boxcox

        return TargetTransform(kind, float(boxcox(np.asarray(y_train, dtype=np.float64))[1]))
    return TargetTransform(kind)


def _outside(values: np.ndarray, ok: np.ndarray, column: str, domain: str, why: str, fix: str) -> DataError:
    bad = values[~ok]
    return DataError(f"train column '{column}'", expected=f"{domain} ({why})",
                     found=f"{bad.size} of {values.size} rows outside, e.g. {bad[0]!r}", fix=fix)


def check_targets(y: np.ndarray, column: str, metric: Metric, kind: str) -> None:
    """A DataError naming ``column`` when targets lie outside the metric's domain or the transform's."""
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.number):
        return
    y = y.astype(np.float64)
    d = metric.domain
    if d is not None and d.targets:
        ok = d.contains(y)
        if not ok.all():
            raise _outside(y, ok, column, d.describe(), f"what metric '{metric.name}' can score",
                           "fix or drop those rows, or choose a metric for this target (competition.metric)")
    if kind in _NEEDS:
        bound, is_open = _NEEDS[kind]
        ok = (y > bound) if is_open else (y >= bound)
        if not ok.all():
            raise _outside(y, ok, column, f"values {'>' if is_open else '>='} {bound}", f"what target_transform '{kind}' needs",
                           "set target_transform: none (or another transform) in the experiment config")


def finish(pred: np.ndarray, transform: TargetTransform, metric: Metric) -> tuple[np.ndarray, int]:
    """A model's raw prediction -> the target's scale, clipped into the metric's domain; and how many were clipped."""
    p = transform.inverse(pred)
    if metric.domain is None:
        return p, 0
    clipped = metric.domain.clip(p)
    return clipped, int(np.count_nonzero((clipped != p) & ~np.isnan(p)))


def score_fold(metric: Metric, y: np.ndarray, pred: np.ndarray, where: str, weight=None) -> float:
    """``metric(y, pred)``; any exception it raises becomes a RunError naming ``where`` and the values."""
    try:
        return metric(y, pred, weight) if weight is not None else metric(y, pred)
    except Exception as e:  # a metric is user code: its failure is explained, not re-raised
        p = np.asarray(pred, dtype=np.float64) if np.asarray(pred).dtype != object else np.zeros(0)
        stats = (f"predictions min {np.nanmin(p):.6g}, max {np.nanmax(p):.6g}, {int(np.isnan(p).sum())} NaN"
                 if p.size and not np.isnan(p).all() else f"{p.size} predictions, all NaN or none")
        raise RunError(f"{where}: metric '{metric.name}'", expected="a score of the fold's predictions",
                       found=f"{type(e).__name__}: {e} ({stats})",
                       fix="check the metric's domain and the model's predictions (see the fold's predictions under parts/)") from e


def transform_path(run_dir: Path, stem: str) -> Path:
    """Where a split's fitted transform is saved: ``models/<stem>.target.json`` (stem ``r0_f1`` or ``full``)."""
    return Path(run_dir) / "models" / f"{stem}.target.json"


def save_transform(run_dir: Path | None, stem: str, t: TargetTransform) -> None:
    if run_dir is not None and t.kind != "none":
        path = transform_path(run_dir, stem)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(t.as_dict()))


def load_transform(run_dir: Path, stem: str, kind: str, run_id: str) -> TargetTransform:
    """The transform a run saved for ``stem``; ``none`` when ``kind`` is none; a RunError when it is missing."""
    if kind == "none":
        return TargetTransform()
    path = transform_path(run_dir, stem)
    if not path.is_file():
        raise RunError(f"run '{run_id}'", expected=f"the fitted target transform {path.name} under models/ (target_transform {kind})",
                       found="no such file", fix="retrain the run; medalist train saves it with the models")
    d = json.loads(path.read_text())
    return TargetTransform(d["kind"], d.get("lambda"))


def split_transform(data, exp, metric: Metric, train_rows: pl.DataFrame) -> TargetTransform:
    """The experiment's transform for ``data`` (a CompetitionData), fitted on ``train_rows``' targets."""
    kind = resolve_transform(exp.target_transform, data.task, metric)
    if kind == "none":
        return TargetTransform()
    return fit_transform(kind, train_rows.get_column(data.target[0]).to_numpy())


def prepare_transform(exp, data, metric: Metric, where: str) -> str:
    """Before a run folder exists: the resolved transform of ``exp`` for ``data`` (a CompetitionData),
    with every target column checked against the metric's domain and the transform's (DataError)."""
    kind = resolve_transform(exp.target_transform, data.task, metric, where)
    for column in data.target:
        check_targets(data.train.get_column(column).to_numpy(), column, metric, kind)
    return kind


def run_fields(kind: str, metric: Metric) -> dict[str, Any]:
    """What run.json records about the transform and the clipping (what predict_run re-applies)."""
    from dataclasses import asdict

    return {"target_transform": kind, "prediction_domain": asdict(metric.domain) if metric.domain is not None else None}
