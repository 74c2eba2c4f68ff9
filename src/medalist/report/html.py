"""``medalist report``: one self-contained HTML file about the runs of a workspace.

Sections: runs leaderboard (with the ledger's LB scores), per-fold scores, learning curves (train vs
valid with the over/under-fitting reading of TECHNIQUES §3), confusion matrix, ROC and PR curves,
calibration, feature importance, CV–LB scatter and the submission timeline. Plots are matplotlib
figures inlined as SVG; there is no script, stylesheet or font from outside the file.
"""

from __future__ import annotations

import html
import io
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import MedalistError, RunError
from medalist.runs.store import Run, list_runs

__all__ = ["build_report", "curve_reading"]

MAX_DETAILED = 6  # runs with per-run diagnostic plots (the best by CV)
_LOWER_IS_BETTER = re.compile(r"(loss|logloss|l1|l2|rmse|mse|mae|error|mape|huber|quantile)", re.I)
_esc = html.escape


# ----------------------------------------------------------------------------- plotting
def _plt():
    try:
        import matplotlib
    except ImportError:
        from medalist.core.errors import MissingDependencyError

        raise MissingDependencyError("matplotlib", "plot", purpose="the report's plots") from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.grid": True, "grid.alpha": 0.3})
    return plt


class _Figs:
    def __init__(self) -> None:
        self.n = 0

    def svg(self, fig, name: str, caption: str = "") -> str:
        plt = _plt()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight")
        plt.close(fig)
        text = buf.getvalue()
        text = text[text.index("<svg"):]
        # ids inside inline SVGs share the page's namespace: make them unique per figure
        self.n += 1
        prefix = f"p{self.n}-"
        text = re.sub(r'id="([^"]+)"', lambda m: f'id="{prefix}{m[1]}"', text)
        text = re.sub(r'url\(#([^)]+)\)', lambda m: f"url(#{prefix}{m[1]})", text)
        text = re.sub(r'xlink:href="#([^"]+)"', lambda m: f'xlink:href="#{prefix}{m[1]}"', text)
        text = re.sub(r'(?<!:)href="#([^"]+)"', lambda m: f'href="#{prefix}{m[1]}"', text)
        cap = f"<figcaption>{_esc(caption)}</figcaption>" if caption else ""
        return f'<figure class="plot" data-plot="{_esc(name)}">{text}{cap}</figure>'


# ----------------------------------------------------------------------------- learning curves
def _lower_is_better(name: str) -> bool:
    return bool(_LOWER_IS_BETTER.search(name))


def curve_reading(train: np.ndarray | None, valid: np.ndarray, steps: np.ndarray, *, lower_is_better: bool) -> dict[str, Any]:
    """Read a learning curve as TECHNIQUES §3 does: both falling is good, train falling with valid rising is
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


def _train_curves(ws, run: Run, data, splits, metric_name: str, max_folds: int = 3) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """Train-set curves recomputed from the saved GBDT fold models (when only valid curves were logged)."""
    from medalist.models import load_model

    kind = _METRIC_FNS.get(metric_name.split("/")[-1])
    if kind is None or data is None:
        return {}
    out = {}
    seeds = run.record.seeds or [42]
    y_all = data.train.get_column(data.target[0]).to_numpy() if data.task != "multilabel" else None
    for split in splits[:max_folds]:
        mdir = run.path / "models" / f"r{split.repeat}_f{split.fold}_s{seeds[0]}"
        if not (mdir / "model.json").is_file() or y_all is None:
            continue
        try:
            model = load_model(mdir)
        except Exception:
            continue
        rounds = getattr(model, "rounds_", None)
        if not rounds or len(rounds) != 1:
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
        except Exception:
            continue
        finally:
            model.rounds_ = [total]
        out[(split.repeat, split.fold)] = (steps, np.array(vals))
    return out


# ----------------------------------------------------------------------------- data
def _load_data(ws, run: Run):
    from medalist.core.config import ExperimentConfig
    from medalist.features import apply_static, build_plan
    from medalist.workspace.data import load_competition_data

    cfg = {k: v for k, v in run.config.items() if k != "competition"}
    exp = ExperimentConfig.model_validate(cfg)
    data = load_competition_data(ws, exp.columns, weight=exp.weight)
    plan = build_plan(exp.features, data, source=str(run.path / "config.yaml"), ws=None, folds_hash=None)
    return apply_static(plan, data) if not plan.per_fold else data


def _truth(ws) -> tuple[pl.DataFrame, list | None, str]:
    """id + encoded target (as the runs saw it), the classes and the task."""
    from medalist.workspace.data import load_competition_data

    data = load_competition_data(ws)
    cols = [data.id, *data.target]
    return data.train.select(cols), data.classes, data.task


# ----------------------------------------------------------------------------- sections
def _table(headers: list[str], rows: list[list[Any]], cls: str = "") -> str:
    def cell(v: Any) -> str:
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            return "<td>-</td>"
        if isinstance(v, float):
            return f'<td class="num">{v:.5f}</td>'
        return f"<td>{_esc(str(v))}</td>"

    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _leaderboard(runs: list[Run], led: pl.DataFrame, direction: str) -> str:
    lb: dict[str, tuple] = {}
    for r in led.iter_rows(named=True):
        if r["run"]:
            lb[r["run"]] = (r["public"], r["private"])
    rows = []
    for r in sorted(runs, key=lambda r: (r.cv is None, -(r.cv or 0) if direction == "maximize" else (r.cv or 0))):
        m = r.metrics
        rec = r.record
        rows.append([r.id, rec.model, r.cv, m.get("mean"), m.get("std"), *(lb.get(r.id, (None, None))),
                     None if rec.seconds is None else f"{rec.seconds:.1f}", rec.folds_hash, rec.note or ""])
    return _table(["run", "model", "CV (OOF)", "fold mean", "fold std", "public", "private", "seconds", "folds", "note"], rows, "leaderboard")


def _folds_section(runs: list[Run], figs: _Figs) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(runs)))
    rows = []
    for i, r in enumerate(runs):
        folds = r.metrics.get("folds", [])
        s = [f["score"] for f in folds]
        ax.scatter(s, [i] * len(s), color="#1f77b4", s=18, zorder=3)
        if s:
            ax.plot([np.mean(s)] * 2, [i - 0.3, i + 0.3], color="#d62728", lw=2)
        rows.append([r.id, *[f"{x:.5f}" for x in s]])
    ax.set_yticks(range(len(runs)), [r.id for r in runs])
    ax.set_xlabel("fold score (red: mean)")
    ax.set_title("per-fold scores")
    width = max((len(r) - 1 for r in rows), default=0)
    rows = [r + [""] * (width + 1 - len(r)) for r in rows]
    table = _table(["run", *[f"fold {i}" for i in range(width)]], rows, "folds")
    return figs.svg(fig, "folds", "each dot is one fold's score; a wide spread means a noisy CV") + table


def _curves_section(ws, run: Run, data, splits, figs: _Figs) -> str:
    p = run.path / "curves.parquet"
    if not p.is_file():
        return f'<p class="note">{_esc(run.id)}: no learning curves logged (this model family does not log them).</p>'
    cur = pl.read_parquet(p)
    names = cur.get_column("name").unique().sort().to_list()
    valid_names = [n for n in names if n.startswith("valid")]
    if not valid_names:
        return f'<p class="note">{_esc(run.id)}: no validation curve.</p>'
    vname = valid_names[0]
    metric = vname.split("/", 1)[-1]
    tname = next((n for n in names if n.startswith("train") and n.split("/", 1)[-1] == metric), None)
    lower = _lower_is_better(metric)
    recomputed = {} if tname else _train_curves(ws, run, data, splits, vname)
    plt = _plt()
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
    items = "".join(f"<li>fold {f}: <b>{_esc(r['verdict'])}</b> — {_esc(r['text'])}</li>" for f, r in readings)
    return (figs.svg(fig, f"curves-{run.id}", f"train curve: {src}")
            + f'<div class="reading" data-verdict="{_esc(main)}"><p>Reading (TECHNIQUES §3): <b>{_esc(main)}</b></p><ul>{items}</ul></div>')


def _diagnostics(run: Run, truth: pl.DataFrame, classes: list | None, task: str, figs: _Figs) -> str:
    from sklearn import metrics as skm

    oof = run.oof()
    id_col = truth.columns[0]
    cols = run.record.pred_columns or [c for c in oof.columns if c.startswith("pred")]
    j = truth.join(oof.with_columns(pl.col(id_col).cast(truth.schema[id_col])), on=id_col, how="inner")
    j = j.filter(pl.all_horizontal([pl.col(c).is_not_null() & pl.col(c).is_not_nan() for c in cols]))
    if j.height == 0:
        return ""
    plt = _plt()
    parts = []
    if task == "regression":
        y, p = j.get_column(truth.columns[1]).to_numpy().astype(float), j.get_column(cols[0]).to_numpy()
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.scatter(y, p, s=4, alpha=0.4)
        lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
        ax.plot([lo, hi], [lo, hi], ls="--", color="grey")
        ax.set_xlabel("target")
        ax.set_ylabel("OOF prediction")
        ax.set_title(f"{run.id}: OOF vs target")
        parts.append(figs.svg(fig, f"residuals-{run.id}", "regression: confusion matrix, ROC/PR and calibration do not apply"))
        return "".join(parts)
    if task == "multilabel":
        return '<p class="note">multilabel: per-label diagnostics are not drawn.</p>'
    y = j.get_column(truth.columns[1]).to_numpy()
    y = y.astype(int) if y.dtype != object else y
    P = j.select(cols).to_numpy().astype(float)
    labels = [str(c) for c in (classes or [0, 1])]
    if task == "binary":
        p1 = P[:, 0]
        yhat = (p1 >= 0.5).astype(int)
        y = y.astype(int)
    else:
        yhat = P.argmax(axis=1)
    cm = skm.confusion_matrix(y, yhat, labels=list(range(len(labels))))
    fig, ax = plt.subplots(figsize=(3.8, 3.4))
    ax.imshow(cm, cmap="Blues")
    ax.grid(False)
    for (a, b), v in np.ndenumerate(cm):
        ax.text(b, a, str(v), ha="center", va="center", color="black" if v < cm.max() / 2 else "white")
    ax.set_xticks(range(len(labels)), labels, rotation=45)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{run.id}: confusion matrix" + (" (threshold 0.5)" if task == "binary" else ""))
    parts.append(figs.svg(fig, f"confusion-{run.id}"))
    if task == "binary" and len(np.unique(y)) == 2:
        fpr, tpr, _ = skm.roc_curve(y, p1)
        prec, rec, _ = skm.precision_recall_curve(y, p1)
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.6))
        a1.plot(fpr, tpr)
        a1.plot([0, 1], [0, 1], ls="--", color="grey")
        a1.set_title(f"ROC (AUC {skm.roc_auc_score(y, p1):.4f})")
        a1.set_xlabel("false positive rate")
        a1.set_ylabel("true positive rate")
        a2.plot(rec, prec)
        a2.axhline(y.mean(), ls="--", color="grey")
        a2.set_title(f"precision–recall (AP {skm.average_precision_score(y, p1):.4f})")
        a2.set_xlabel("recall")
        a2.set_ylabel("precision")
        parts.append(figs.svg(fig, f"roc-pr-{run.id}"))
        from sklearn.calibration import calibration_curve

        frac, mean = calibration_curve(y, np.clip(p1, 0, 1), n_bins=10, strategy="quantile")
        fig, ax = plt.subplots(figsize=(4.2, 3.8))
        ax.plot(mean, frac, marker="o")
        ax.plot([0, 1], [0, 1], ls="--", color="grey")
        ax.set_xlabel("mean predicted probability")
        ax.set_ylabel("fraction positive")
        ax.set_title(f"{run.id}: calibration (Brier {skm.brier_score_loss(y, np.clip(p1, 0, 1)):.4f})")
        parts.append(figs.svg(fig, f"calibration-{run.id}"))
    elif task == "multiclass":
        from sklearn.preprocessing import label_binarize

        Y = label_binarize(y, classes=list(range(len(labels))))
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.6))
        for k, lab in enumerate(labels[:10]):
            if Y[:, k].min() == Y[:, k].max():
                continue
            fpr, tpr, _ = skm.roc_curve(Y[:, k], P[:, k])
            prec, rec, _ = skm.precision_recall_curve(Y[:, k], P[:, k])
            a1.plot(fpr, tpr, lw=1, label=lab)
            a2.plot(rec, prec, lw=1, label=lab)
        a1.set_title("ROC (one vs rest)")
        a2.set_title("precision–recall (one vs rest)")
        a1.legend(fontsize=6)
        parts.append(figs.svg(fig, f"roc-pr-{run.id}"))
        conf = P.max(axis=1)
        correct = (P.argmax(axis=1) == y).astype(int)
        from sklearn.calibration import calibration_curve

        frac, mean = calibration_curve(correct, np.clip(conf, 0, 1), n_bins=10, strategy="quantile")
        fig, ax = plt.subplots(figsize=(4.2, 3.8))
        ax.plot(mean, frac, marker="o")
        ax.plot([0, 1], [0, 1], ls="--", color="grey")
        ax.set_title(f"{run.id}: top-class calibration")
        parts.append(figs.svg(fig, f"calibration-{run.id}"))
    return "".join(parts)


def _importance(run: Run, figs: _Figs) -> str:
    imp = run.importance()
    if imp is None or imp.height == 0:
        return f'<p class="note">{_esc(run.id)}: no feature importance (this model family has none).</p>'
    top = imp.head(20).reverse()
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 0.4 + 0.24 * top.height))
    err = top.get_column("gain_std").fill_null(0).to_numpy() if "gain_std" in top.columns else None
    ax.barh(top.get_column("feature").to_list(), top.get_column("gain").to_numpy(), xerr=err, color="#2ca02c")
    ax.set_xlabel("gain (mean ± std over folds × seeds)")
    ax.set_title(f"{run.id}: feature importance (top {top.height})")
    return figs.svg(fig, f"importance-{run.id}")


def _lb_sections(led: pl.DataFrame, figs: _Figs) -> str:
    from medalist.kaggle.ledger import correlation

    if led.height == 0:
        return '<p class="note">No submissions yet (medalist submit RUN).</p>'
    plt = _plt()
    parts = []
    f = led.filter(pl.col("cv").is_not_null() & pl.col("public").is_not_null())
    corr = correlation(led)
    if f.height:
        fig, ax = plt.subplots(figsize=(5.5, 4.4))
        x, y = f.get_column("cv").to_numpy(), f.get_column("public").to_numpy()
        ax.scatter(x, y, zorder=3, label="public")
        fp = f.filter(pl.col("private").is_not_null())
        if fp.height:
            ax.scatter(fp.get_column("cv").to_numpy(), fp.get_column("private").to_numpy(), marker="x", zorder=3, label="private")
        for xi, yi, lab in zip(x, y, f.get_column("run").to_list()):
            ax.annotate(str(lab or "?"), (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        ax.plot([lo, hi], [lo, hi], ls="--", color="grey", lw=0.8)
        ax.set_xlabel("CV (OOF)")
        ax.set_ylabel("leaderboard")
        ax.legend(fontsize=8)
        pe = "-" if corr["pearson"] is None else f"{corr['pearson']:.3f}"
        sp = "-" if corr["spearman"] is None else f"{corr['spearman']:.3f}"
        ax.set_title(f"CV vs LB (Pearson {pe}, Spearman {sp}, n={corr['n']})")
        parts.append(figs.svg(fig, "cv-lb", corr["warning"] or "CV tracks the public LB"))
    t = led.filter(pl.col("time").is_not_null()).with_columns(pl.col("time").str.slice(0, 19).str.to_datetime(strict=False).alias("_t"))
    t = t.filter(pl.col("_t").is_not_null()).sort("_t")
    if t.height:
        fig, ax = plt.subplots(figsize=(7, 3.4))
        tt = t.get_column("_t").to_list()
        ax.plot(tt, t.get_column("cv").to_numpy(), marker="o", label="CV")
        if t.get_column("public").is_not_null().any():
            ax.plot(tt, t.get_column("public").to_numpy(), marker="s", label="public")
        if t.get_column("private").is_not_null().any():
            ax.plot(tt, t.get_column("private").to_numpy(), marker="x", label="private")
        ax.set_title("submission timeline")
        ax.legend(fontsize=8)
        fig.autofmt_xdate()
        parts.append(figs.svg(fig, "timeline"))
    rows = [[r["time"], r["run"], r["cv"], r["public"], r["private"], r["status"] or ("local" if r["local"] else ""), r["message"]]
            for r in led.iter_rows(named=True)]
    parts.append(_table(["time", "run", "CV", "public", "private", "status", "message"], rows, "ledger"))
    return "".join(parts)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}h3{font-size:15px}
table{border-collapse:collapse;font-size:12px;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 7px}th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}figure.plot{display:inline-block;margin:6px;vertical-align:top}
figure.plot svg{max-width:100%;height:auto}figcaption{font-size:11px;color:#555;max-width:520px}
.note{color:#777;font-size:12px}.reading{background:#f7f7ff;border-left:3px solid #66c;padding:4px 10px;font-size:12px}
nav a{margin-right:10px;font-size:13px}
"""


def build_report(ws, run_ids: list[str] | None, out: Path) -> dict[str, Any]:
    """Write the HTML report for ``run_ids`` (default: every finished run); return its path and counts."""
    from medalist.kaggle.bundle import assert_no_secrets
    from medalist.kaggle.ledger import ledger
    from medalist.workspace.folds import Folds

    if run_ids:
        runs = [Run.open(ws, r) for r in run_ids]
    else:
        runs = [r for r in list_runs(ws) if r.status == "done"]
    if not runs:
        raise RunError("medalist report", expected="finished runs", found="none", fix="train one: medalist train configs/lgbm.yaml")
    for r in runs:
        r._require_done("metrics.json")
    comp = ws.competition
    direction = runs[0].metrics.get("direction", "maximize")
    ranked = sorted(runs, key=lambda r: (r.cv is None, -(r.cv or 0) if direction == "maximize" else (r.cv or 0)))
    led = ledger(ws)
    figs = _Figs()
    try:
        truth, classes, task = _truth(ws)
    except MedalistError:
        truth, classes, task = None, None, comp.task
    try:
        folds = Folds.load(ws.folds_path)
    except MedalistError:
        folds = None
    sections = [
        ("leaderboard", "Runs leaderboard", _leaderboard(runs, led, direction)),
        ("folds", "Per-fold scores", _folds_section(ranked, figs)),
    ]
    detail = []
    for r in ranked[:MAX_DETAILED]:
        data = splits = None
        if folds is not None and r.record.folds_hash == folds.hash and (r.path / "curves.parquet").is_file():
            try:
                data = _load_data(ws, r)
                splits = folds.splits(data.train)
            except Exception:
                data = splits = None
        body = [f'<h3 id="run-{_esc(r.id)}">{_esc(r.id)} — {_esc(str(r.record.model))}, CV {r.cv:.5f}</h3>' if r.cv is not None else f"<h3>{_esc(r.id)}</h3>"]
        body.append(_curves_section(ws, r, data, splits or [], figs))
        if truth is not None:
            try:
                body.append(_diagnostics(r, truth, classes, task, figs))
            except RunError:
                body.append(f'<p class="note">{_esc(r.id)}: no OOF predictions.</p>')
        body.append(_importance(r, figs))
        detail.append("".join(body))
    sections.append(("runs", "Per-run diagnostics: learning curves, confusion matrix, ROC/PR, calibration, importance",
                     "".join(detail) + (f'<p class="note">Detailed plots for the {MAX_DETAILED} best runs only.</p>' if len(ranked) > MAX_DETAILED else "")))
    sections.append(("lb", "CV–LB and submissions", _lb_sections(led, figs)))
    nav = "".join(f'<a href="#{k}">{_esc(t.split(":")[0])}</a>' for k, t, _ in sections)
    body = "".join(f'<section id="{k}"><h2>{_esc(t)}</h2>{c}</section>' for k, t, c in sections)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    metric = comp.metric if isinstance(comp.metric, str) else str(comp.metric)
    page = (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>medalist report — "
        f"{_esc(comp.name)}</title><link rel=\"icon\" href=\"data:,\"><style>{_CSS}</style></head><body>"
        f"<h1>medalist report — {_esc(comp.name)}</h1><p>task {_esc(comp.task)}, metric {_esc(metric)} ({_esc(direction)}), "
        f"{len(runs)} runs, folds {_esc(str(folds.hash if folds else '-'))}, generated {now}</p><nav>{nav}</nav>{body}</body></html>"
    )
    assert_no_secrets({"report": page.encode()}, "report")
    out = Path(out)
    from medalist.core.io import atomic_write_text

    atomic_write_text(out, page)
    return {"path": str(out), "runs": [r.id for r in runs], "plots": figs.n, "bytes": out.stat().st_size}
