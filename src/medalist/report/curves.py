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

__all__ = ["curve_reading", "curves_section", "choose_curves", "split_curve_name", "train_curves", "recomputes_train_curve"]

_LOWER_IS_BETTER = re.compile(r"(loss|logloss|l1|l2|rmse|mse|mae|error|mape|huber|quantile|kl)", re.I)
_ROLES = {"valid": "valid", "validation": "valid", "val": "valid", "eval": "valid",
          "train": "train", "training": "train", "learn": "train"}
_AUX = re.compile(r"^(bad|bad_\w+|lr|learning_rate|gpu\w*|mem\w*|seconds|time|n_\w+)$", re.I)
_LOSSES = ("loss", "logloss", "binary_logloss", "multi_logloss", "mlogloss", "l2", "rmse", "mse", "l1", "mae")


def _lower_is_better(name: str) -> bool:
    return bool(_LOWER_IS_BETTER.search(name))


def split_curve_name(name: str) -> tuple[str | None, str]:
    """The role (``"valid"``, ``"train"`` or None) and the metric of a logged curve name: GBDT names
    (``valid/auc``, ``training/l2``, ``learn/RMSE``, ``label/valid/auc``) and epoch-model names
    (``train_loss``, ``valid_mlogloss``, ``val_loss``).

    >>> [split_curve_name(n) for n in ("valid/auc", "training/l2", "train_loss", "valid_bad_images", "y1/valid/auc", "lr")]
    [('valid', 'auc'), ('train', 'l2'), ('train', 'loss'), ('valid', 'bad_images'), ('valid', 'auc'), (None, 'lr')]
    """
    parts = name.split("/")
    for i, part in enumerate(parts[:-1]):
        if part.lower() in _ROLES:
            return _ROLES[part.lower()], "/".join(parts[i + 1:])
    head, sep, rest = name.partition("_")
    if sep and rest and head.lower() in _ROLES:
        return _ROLES[head.lower()], rest
    return None, name


def choose_curves(names: list[str], metric: str | None) -> tuple[str | None, str | None, str]:
    """(valid curve, train curve or None, why) for the learning-curve plot and reading.

    In order: the run's metric logged on both valid and train; the model's loss on both (image and signal
    runs log ``train_loss`` / ``valid_loss``); the run's metric on valid only (GBDT runs: the train curve
    is then recomputed); a loss on valid only; else the first valid curve that is not a diagnostic count.

    >>> choose_curves(["train_loss", "valid_bad_images", "valid_loss", "valid_mlogloss"], "mlogloss")
    ('valid_loss', 'train_loss', 'the loss, logged on train and valid (mlogloss is logged on valid only)')
    >>> choose_curves(["valid/auc", "valid/binary_logloss"], "auc")[:2]
    ('valid/auc', None)
    """
    valid: dict[str, str] = {}
    train: dict[str, str] = {}
    for n in sorted(names):
        role, m = split_curve_name(n)
        if role and not _AUX.match(m):
            (valid if role == "valid" else train).setdefault(m.lower(), n)
    if not valid:
        return None, None, "no validation curve"
    m = (metric or "").lower()
    loss = next((k for k in _LOSSES if k in valid and k in train), None)
    if m in valid and m in train:
        return valid[m], train[m], f"the run's metric ({metric}), logged on train and valid"
    if loss:
        why = f" ({metric} is logged on valid only)" if m in valid else ""
        return valid[loss], train[loss], f"the {'loss' if loss == 'loss' else loss}, logged on train and valid{why}"
    if m in valid:
        return valid[m], None, f"the run's metric ({metric}) on valid"
    first_loss = next((k for k in _LOSSES if k in valid), None)
    if first_loss:
        return valid[first_loss], train.get(first_loss), f"the valid {first_loss} (the run's metric {metric} has no curve)"
    k = sorted(valid)[0]
    return valid[k], train.get(k), f"valid {k} (neither the run's metric nor a loss has a curve)"


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def curve_reading(train: np.ndarray | None, valid: np.ndarray, steps: np.ndarray, *, lower_is_better: bool,
                  unit: str = "step") -> dict[str, Any]:
    """Read a learning curve: valid improving then flat is a good fit; valid getting clearly worse after
    its best (by more than a tenth of what it gained) is overfitting; a valid curve that never improves is
    underfitting when train does not improve either, overfitting from the start when train does.

    ``unit`` names the steps in the text (``boosting round`` for GBDTs, ``epoch`` for image/signal runs).
    Improvement is relative: 0.5% of the curve's scale.

    >>> s = np.arange(1, 101)
    >>> curve_reading(1 / s, 0.5 + (s - 40) ** 2 / 1e4, s, lower_is_better=True)["verdict"]
    'overfitting'
    >>> curve_reading(1 / s, 0.6 / s + 0.3, s, lower_is_better=True)["verdict"]
    'good fit'
    >>> curve_reading(np.full(100, 0.69), np.full(100, 0.69), s, lower_is_better=True)["verdict"]
    'underfitting'
    >>> r = curve_reading(None, np.array([1.59, 0.92, 0.55, 0.31, 0.33]), np.arange(1, 6), lower_is_better=True, unit="epoch")
    >>> r["verdict"], r["text"]
    ('good fit', 'valid improves from 1.59 to 0.31 (best at epoch 4) and is flat after it (train curve not logged)')
    """
    sign = 1.0 if lower_is_better else -1.0
    raw = np.asarray(valid, dtype=float)
    v = sign * raw  # lower is better from here on
    ib = int(np.nanargmin(v))
    scale = max(abs(v[0]), abs(v[ib]), 1e-12)
    v_gain = (v[0] - v[ib]) / scale
    v_after = (v[-1] - v[ib]) / scale
    t_gain = None
    if train is not None and len(train):
        t = sign * np.asarray(train, dtype=float)
        t_gain = float((t[0] - np.nanmin(t)) / max(abs(t[0]), abs(np.nanmin(t)), 1e-12))
    best = int(steps[ib])
    improves, t_improves = v_gain >= 0.005, t_gain is not None and t_gain >= 0.005
    no_train = " (train curve not logged)" if t_gain is None else ""
    n = len(v)
    if not improves and not t_improves:
        verdict = "underfitting"
        text = (f"valid stays at {_fmt(raw[0])}→{_fmt(raw[-1])} over {n} {unit}s"
                + (no_train or " and train does not improve either")
                + ": the model learns nothing — usually a bug in the inputs, target or pre/post-processing, or a learning "
                  "rate far off (a model that cannot overfit one batch has a bug)")
    elif not improves:
        verdict = "overfitting"
        text = (f"train improves but valid never does ({_fmt(raw[0])}→{_fmt(raw[-1])}): overfitting from the first {unit} — "
                "a leak between train and its targets, or a far too flexible model")
    elif v_after > max(0.002, 0.1 * v_gain) and ib < n - 1:
        verdict = "overfitting"
        text = (f"valid is best at {unit} {best} ({_fmt(raw[ib])}) and worse by the last {unit} ({_fmt(raw[-1])})"
                + (" while train keeps improving" if t_improves else no_train)
                + f": stop near {unit} {best} (early stopping) or regularise more")
    else:
        verdict = "good fit"
        text = f"valid improves from {_fmt(raw[0])} to {_fmt(raw[ib])} (best at {unit} {best})"
        text += f" and is still improving at the last {unit}: more {unit}s may help" if ib == n - 1 and n > 2 else " and is flat after it"
        text += ", train improves too" if t_improves else no_train
    return {"verdict": verdict, "text": text, "best_step": best, "valid_gain": float(v_gain), "train_gain": t_gain}


_METRIC_FNS = {
    "binary_logloss": "log_loss", "multi_logloss": "log_loss", "logloss": "log_loss", "mlogloss": "log_loss",
    "l2": "mse", "mse": "mse", "rmse": "rmse", "l1": "mae", "mae": "mae", "auc": "auc",
}


def _score(kind: str, y: np.ndarray, p: np.ndarray, n_classes: int | None) -> float:
    from sklearn import metrics as skm

    p = np.asarray(p, dtype=np.float64)
    if kind == "log_loss":  # float64 rows scaled to sum to one: float32 outputs (XGBoost) are off by ~1e-7
        labels = list(range(n_classes)) if n_classes else None
        p = np.clip(p, 1e-15, 1 - 1e-15)
        if p.ndim == 2:
            p = p / p.sum(axis=1, keepdims=True)
        return float(skm.log_loss(y, p, labels=labels))
    if kind == "mse":
        return float(skm.mean_squared_error(y, p))
    if kind == "rmse":
        return float(math.sqrt(skm.mean_squared_error(y, p)))
    if kind == "mae":
        return float(skm.mean_absolute_error(y, p))
    return _auc(y, p) if p.ndim == 1 else float(skm.roc_auc_score(y, p, multi_class="ovr"))


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC from ranks (ties averaged), equal to sklearn's ``roc_auc_score`` for binary labels without
    its ~20 ms of input validation per call (a train curve scores up to 15 rounds x 3 folds per run).

    >>> _auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.75
    """
    from scipy.stats import rankdata

    y = np.asarray(y).astype(bool)
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(np.asarray(p, dtype=np.float64))
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


TRAIN_CURVE_ROWS = 5_000  # training rows per fold the train curve is recomputed on (a fixed random sample)
TRAIN_CURVE_STEPS = 15


def train_curves(ws, run: Run, data, splits, metric_name: str, max_folds: int = 3,
                 notes: list[str] | None = None, max_rows: int = TRAIN_CURVE_ROWS) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """Train-set curves recomputed from the saved GBDT fold models (when only valid curves were logged),
    at up to ``TRAIN_CURVE_STEPS`` rounds on a fixed random sample of ``max_rows`` training rows per fold.

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
        idx = np.asarray(split.train_idx)
        if len(idx) > max_rows:
            idx = np.sort(np.random.default_rng(0).choice(idx, max_rows, replace=False))
        tr = data.train[idx]
        y = y_all[idx]
        steps = np.unique(np.linspace(1, total, num=min(total, TRAIN_CURVE_STEPS)).astype(int))
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


def recomputes_train_curve(run: Run) -> bool:
    """Whether the report recomputes ``run``'s train curve from its saved fold models (and so needs the
    run's features): a GBDT run (``valid/…`` curves) that logged its plotted curve on valid only.
    Image and signal runs log their train curve and never need the competition's features."""
    p = run.path / "curves.parquet"
    if not p.is_file():
        return False
    names = pl.read_parquet(p, columns=["name"]).get_column("name").unique().to_list()
    vname, tname, _ = choose_curves(names, run.metrics.get("metric"))
    return vname is not None and tname is None and "/" in vname


def curves_section(ws, run: Run, data, splits, figs: Figs) -> Markup:
    """The run's valid (and train) curves for up to five folds, with a reading per fold.

    The curve is chosen by :func:`choose_curves` (the run's metric, else the loss); steps are boosting
    rounds for GBDT curves (``valid/…`` names) and epochs for image and signal runs (``valid_…``).
    """
    p = run.path / "curves.parquet"
    if not p.is_file():
        return parts().note(f"{run.id}: no learning curves logged (this model family does not log them).")
    cur = pl.read_parquet(p)
    names = cur.get_column("name").unique().sort().to_list()
    metric_name = run.metrics.get("metric")
    vname, tname, why = choose_curves(names, metric_name)
    if vname is None:
        return parts().note(f"{run.id}: no validation curve (logged: {', '.join(names) or 'nothing'}).")
    metric = split_curve_name(vname)[1]
    unit = "boosting round" if "/" in vname else "epoch"
    lower = _lower_is_better(metric)
    if metric_name and metric.lower() == metric_name.lower():
        lower = run.metrics.get("direction", "maximize" if not lower else "minimize") == "minimize"
    notes: list[str] = []
    recomputed = {} if tname or unit == "epoch" else train_curves(ws, run, data, splits, vname, notes=notes)
    readings = []
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    first_seed = cur.get_column("seed").min()
    keys = cur.filter(pl.col("name") == vname).select("repeat", "fold").unique().sort(["repeat", "fold"]).rows()[:5]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (rep, fold) in enumerate(keys):
        sel = cur.filter((pl.col("repeat") == rep) & (pl.col("fold") == fold) & (pl.col("seed") == first_seed))
        v = sel.filter(pl.col("name") == vname).sort("step")
        vs, vv = v.get_column("step").to_numpy(), v.get_column("value").to_numpy()
        ax.plot(vs, vv, color=colors[i % len(colors)], lw=1.4, label=f"valid f{fold}")
        ts = tv = None
        if tname:
            t = sel.filter(pl.col("name") == tname).sort("step")
            ts, tv = t.get_column("step").to_numpy(), t.get_column("value").to_numpy()
        elif (rep, fold) in recomputed:
            ts, tv = recomputed[(rep, fold)]
        if ts is not None and len(ts):
            ax.plot(ts, tv, color=colors[i % len(colors)], lw=1.1, ls="--", label=f"train f{fold}")
        if len(vv):
            train = np.interp(vs, ts, tv) if ts is not None and len(ts) else None
            readings.append((fold, curve_reading(train, vv, vs, lower_is_better=lower, unit=unit)))
    ax.set_xlabel(unit)
    ax.set_ylabel(metric)
    ax.set_title(f"{run.id}: learning curves (solid valid, dashed train)")
    ax.legend(fontsize=7, ncol=2)
    if tname:
        src = f"logged as {tname}"
    elif recomputed:
        src = (f"recomputed from the saved fold models on up to {TRAIN_CURVE_ROWS:,} sampled training rows per fold, "
               "up to the kept round")
    else:
        src = "not logged"
    caption = f"curve: {why} ({vname}); train curve: {src}"
    if not readings:
        return join([figs.svg(fig, f"curves-{run.id}", caption), *(parts().note(n) for n in notes)])
    verdicts = [r["verdict"] for _, r in readings]
    main = max(set(verdicts), key=verdicts.count)
    return join([figs.svg(fig, f"curves-{run.id}", caption), parts().reading(main, readings),
                 *(parts().note(n) for n in notes)])
