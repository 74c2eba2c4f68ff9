"""Learning curves: the over/under-fitting reading and the per-run curves plot.

Valid curves come from ``curves.parquet``; when only those were logged, train curves are recomputed from
the saved GBDT fold models.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import polars as pl

from medalist.report.plots import Figs, pyplot
from medalist.report.render import Markup, join, parts
from medalist.runs.store import Run

__all__ = ["curve_reading", "curves_section"]

_LOWER_IS_BETTER = re.compile(r"(loss|logloss|l1|l2|rmse|mse|mae|error|mape|huber|quantile)", re.I)


def _lower_is_better(name: str) -> bool:
    return bool(_LOWER_IS_BETTER.search(name))


def curve_reading(train: np.ndarray | None, valid: np.ndarray, steps: np.ndarray, *, lower_is_better: bool) -> dict[str, Any]:
    """Read a learning curve as strong Kagglers do: both falling is good, train falling with valid rising is
    overfitting, neither falling is underfitting (often a pre/post-processing bug or a bad learning rate).

    >>> s = np.arange(1, 101)
    >>> curve_reading(1 / s, 0.5 + (s - 40) ** 2 / 1e4, s, lower_is_better=True)["verdict"]
    'overfitting'
    >>> curve_reading(1 / s, 0.6 / s + 0.3, s, lower_is_better=True)["verdict"]
    'good fit'
    >>> curve_reading(np.full(100, 0.69), np.full(100, 0.69), s, lower_is_better=True)["verdict"]
    'underfitting'
    """
    sign = 1.0 if lower_is_better else -1.0
    v = sign * np.asarray(valid, dtype=float)  # lower is better from here on
    ib = int(np.nanargmin(v))
    scale = max(abs(v[0]), abs(np.nanmin(v)), 1e-12)
    v_gain = (v[0] - v[ib]) / scale
    v_after = (v[-1] - v[ib]) / scale
    t_gain = None
    if train is not None and len(train):
        t = sign * np.asarray(train, dtype=float)
        t_gain = (t[0] - np.nanmin(t)) / max(abs(t[0]), 1e-12)
    best_step = int(steps[ib])
    if v_gain < 0.005 and (t_gain is None or t_gain < 0.005):
        verdict, text = "underfitting", ("neither curve improves: underfitting — usually a bug in pre/post-processing or a bad "
                                         "learning rate (try overfitting a single batch)")
    elif v_after > 0.002 and ib < len(v) - 1:
        verdict = "overfitting"
        text = (f"valid is best at step {best_step} and gets worse after it while train keeps improving: overfitting past "
                f"step {best_step} (early stopping / fewer iterations, more regularisation)")
        if t_gain is None:
            text = f"valid is best at step {best_step} and gets worse after it: overfitting past step {best_step} (train curve not logged)"
        if v_gain < 0.005:
            text = "valid never improves while train does: overfitting from the start (a leak in train, or a far too flexible model)"
    else:
        verdict = "good fit"
        text = "train and valid both improve" + (" to the last step: more iterations may help" if ib >= len(v) - 2 else
                                                 f"; valid flattens after step {best_step}")
    return {"verdict": verdict, "text": text, "best_step": best_step, "valid_gain": float(v_gain), "train_gain": t_gain}


_METRIC_FNS = {
    "binary_logloss": "log_loss", "multi_logloss": "log_loss", "logloss": "log_loss", "mlogloss": "log_loss",
    "l2": "mse", "mse": "mse", "rmse": "rmse", "l1": "mae", "mae": "mae", "auc": "auc",
}


def _score(kind: str, y: np.ndarray, p: np.ndarray, n_classes: int | None) -> float:
    from sklearn import metrics as skm

    if kind == "log_loss":
        labels = list(range(n_classes)) if n_classes else None
        return float(skm.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=labels))
    if kind == "mse":
        return float(skm.mean_squared_error(y, p))
    if kind == "rmse":
        return float(math.sqrt(skm.mean_squared_error(y, p)))
    if kind == "mae":
        return float(skm.mean_absolute_error(y, p))
    return float(skm.roc_auc_score(y, p))


def train_curves(ws, run: Run, data, splits, metric_name: str, max_folds: int = 3,
                 notes: list[str] | None = None) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """Train-set curves recomputed from the saved GBDT fold models (when only valid curves were logged).

    A fold whose curve cannot be recomputed is not dropped silently: the reason (no saved model, a
    model that refuses to load, a prediction that fails with a medalist or value error) is appended
    to ``notes``, which the report prints under the plot. Any other exception is a bug and propagates.
    """
    from medalist.core.errors import MedalistError
    from medalist.models import load_model

    notes = [] if notes is None else notes
    kind = _METRIC_FNS.get(metric_name.split("/")[-1])
    if kind is None or data is None:
        return {}
    out = {}
    seeds = run.record.seeds or [42]
    y_all = data.train.get_column(data.target[0]).to_numpy() if data.task != "multilabel" else None
    for split in splits[:max_folds] if y_all is not None else []:
        mdir = run.path / "models" / f"r{split.repeat}_f{split.fold}_s{seeds[0]}"
        where = f"{run.id} fold {split.fold}: train curve not recomputed"
        if not (mdir / "model.json").is_file():
            notes.append(f"{where} (no saved fold model in {mdir.relative_to(run.path)})")
            continue
        try:
            model = load_model(mdir)
        except MedalistError as e:
            notes.append(f"{where} (the model did not load: {e})")
            continue
        rounds = getattr(model, "rounds_", None)
        if not rounds or len(rounds) != 1:
            notes.append(f"{where} (model '{model.registered_name}' has no single boosting-round count to replay)")
            continue
        total = int(rounds[0])
        tr = data.train[split.train_idx]
        y = y_all[split.train_idx]
        steps = np.unique(np.linspace(1, total, num=min(total, 25)).astype(int))
        vals = []
        try:
            for k in steps:
                model.rounds_ = [int(k)]
                vals.append(_score(kind, y, model.predict(tr), data.n_classes))
        except (MedalistError, ValueError) as e:
            notes.append(f"{where} (predicting with the first rounds failed: {type(e).__name__}: {e})")
            continue
        finally:
            model.rounds_ = [total]
        out[(split.repeat, split.fold)] = (steps, np.array(vals))
    return out


def curves_section(ws, run: Run, data, splits, figs: Figs) -> Markup:
    """The run's valid (and train) curves for up to five folds, with a reading per fold."""
    p = run.path / "curves.parquet"
    if not p.is_file():
        return parts().note(f"{run.id}: no learning curves logged (this model family does not log them).")
    cur = pl.read_parquet(p)
    names = cur.get_column("name").unique().sort().to_list()
    valid_names = [n for n in names if n.startswith("valid")]
    if not valid_names:
        return parts().note(f"{run.id}: no validation curve.")
    vname = valid_names[0]
    metric = vname.split("/", 1)[-1]
    tname = next((n for n in names if n.startswith("train") and n.split("/", 1)[-1] == metric), None)
    lower = _lower_is_better(metric)
    notes: list[str] = []
    recomputed = {} if tname else train_curves(ws, run, data, splits, vname, notes=notes)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    readings = []
    first_seed = cur.get_column("seed").min()
    keys = cur.filter(pl.col("name") == vname).select("repeat", "fold").unique().sort(["repeat", "fold"]).rows()[:5]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (rep, fold) in enumerate(keys):
        c = colors[i % len(colors)]
        sel = cur.filter((pl.col("repeat") == rep) & (pl.col("fold") == fold) & (pl.col("seed") == first_seed))
        v = sel.filter(pl.col("name") == vname).sort("step")
        vs, vv = v.get_column("step").to_numpy(), v.get_column("value").to_numpy()
        ax.plot(vs, vv, color=c, lw=1.4, label=f"valid f{fold}")
        ts = tv = None
        if tname:
            t = sel.filter(pl.col("name") == tname).sort("step")
            ts, tv = t.get_column("step").to_numpy(), t.get_column("value").to_numpy()
        elif (rep, fold) in recomputed:
            ts, tv = recomputed[(rep, fold)]
        if ts is not None and len(ts):
            ax.plot(ts, tv, color=c, lw=1.1, ls="--", label=f"train f{fold}")
        reading = curve_reading(np.interp(vs, ts, tv) if ts is not None and len(ts) else None, vv, vs, lower_is_better=lower)
        readings.append((fold, reading))
    ax.set_xlabel("step (boosting round / epoch)")
    ax.set_ylabel(metric)
    ax.set_title(f"{run.id}: learning curves (solid valid, dashed train)")
    ax.legend(fontsize=7, ncol=2)
    src = "logged" if tname else ("recomputed from the saved fold models (up to the kept iteration)" if recomputed else "not logged")
    verdicts = [r["verdict"] for _, r in readings]
    main = max(set(verdicts), key=verdicts.count)
    return join([figs.svg(fig, f"curves-{run.id}", f"train curve: {src}"), parts().reading(main, readings),
                 *(parts().note(n) for n in notes)])
