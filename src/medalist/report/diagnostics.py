"""Per-run diagnostics from the OOF predictions: confusion matrix, ROC/PR, calibration (by task), importance."""

from __future__ import annotations

import numpy as np
import polars as pl

from medalist.report.plots import Figs, pyplot, thin
from medalist.report.render import Markup, join, parts
from medalist.runs.store import Run

__all__ = ["diagnostics_section", "importance_section", "binary_thresholds", "probabilities"]


def diagnostics_section(run: Run, truth: pl.DataFrame, classes: list | None, task: str, figs: Figs) -> Markup:
    """The task's plots of the run's OOF predictions against the encoded target (empty when none overlap)."""
    j, cols = _joined(run, truth)
    if j.height == 0:
        return Markup("")
    if task == "regression":
        return _regression(run, j.get_column(truth.columns[1]).to_numpy().astype(float), j.get_column(cols[0]).to_numpy(), figs)
    if task == "multilabel":
        return parts().note("multilabel: per-label diagnostics are not drawn.")
    if task == "distribution":  # soft labels have no confusion matrix; the majority vote vs the top prediction does
        y = j.select(truth.columns[1:]).to_numpy().astype(float).argmax(axis=1)
        yhat = j.select(cols).to_numpy().astype(float).argmax(axis=1)
        note = parts().note("distribution: the confusion matrix is by argmax: each row's majority vote (true) against "
                            "its most probable predicted class; the score itself (KL) compares whole distributions.")
        return join([note, _confusion(run, y, [(yhat, "argmax")], [str(c) for c in classes or truth.columns[1:]], figs, "")])
    y = j.get_column(truth.columns[1]).to_numpy()
    y = y.astype(int) if y.dtype != object else y
    P = probabilities(j.select(cols).to_numpy(), task)
    labels = [str(c) for c in (classes or [0, 1])]
    if task == "binary":
        y = y.astype(int)
        if len(np.unique(y)) != 2:
            return _confusion(run, y, [((P[:, 0] >= 0.5).astype(int), "threshold 0.5")], labels, figs,
                              "binary: one class only in the OOF rows, so the threshold is 0.5")
        th = binary_thresholds(y, P[:, 0])
        f1, prev = th["f1"], th["prevalence"]
        panels = [((P[:, 0] >= f1["threshold"]).astype(int), f"F1-optimal threshold {f1['threshold']:.4g} (F1 {f1['f1']:.3f})"),
                  ((P[:, 0] >= prev["threshold"]).astype(int), f"prevalence threshold {prev['threshold']:.4g}")]
        caption = (f"left: OOF predictions at or above the threshold that maximises F1 on these rows are called positive; "
                   f"right: the threshold that calls the same share positive as the true prevalence "
                   f"({prev['rate']:.2%}, the {1 - prev['rate']:.2%} quantile of the predictions). "
                   "A fixed 0.5 says little when the positive class is rare or the model is not calibrated.")
        return join([_confusion(run, y, panels, labels, figs, caption), *_binary_curves(run, y, P[:, 0], figs)])
    out = [_confusion(run, y, [(P.argmax(axis=1), "most probable class")], labels, figs, "")]
    if task == "multiclass":
        out += _multiclass_curves(run, y, P, labels, figs)
    return join(out)


def _joined(run: Run, truth: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Target and OOF prediction columns on the rows that have both (every prediction finite)."""
    oof = run.oof()
    id_col = truth.columns[0]
    cols = run.record.pred_columns or [c for c in oof.columns if c.startswith("pred")]
    j = truth.join(oof.with_columns(pl.col(id_col).cast(truth.schema[id_col])), on=id_col, how="inner")
    j = j.filter(pl.all_horizontal([pl.col(c).is_not_null() & pl.col(c).is_not_nan() for c in cols]))
    return j, cols


SCATTER_MAX = 5_000  # OOF points drawn one by one; above this the plot bins them (hexbin)


def _regression(run: Run, y: np.ndarray, p: np.ndarray, figs: Figs) -> Markup:
    """OOF prediction against target: a rasterised scatter up to ``SCATTER_MAX`` rows, a hexbin of
    every row above it (so the SVG stays a few hundred KB at any row count)."""
    plt = pyplot()
    p = np.asarray(p, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(4.8, 4))
    n = len(y)
    if n <= SCATTER_MAX:
        ax.scatter(y, p, s=4, alpha=0.4, rasterized=True)
        how = f"each of the {n:,} OOF rows is a dot"
    else:
        hb = ax.hexbin(y, p, gridsize=60, bins="log", mincnt=1, cmap="viridis", rasterized=True)
        fig.colorbar(hb, ax=ax, label="rows (log scale)")
        how = f"all {n:,} OOF rows binned in hexagons (colour: row count, log scale)"
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], ls="--", color="grey")
    ax.set_xlabel("target")
    ax.set_ylabel("OOF prediction")
    ax.set_title(f"{run.id}: OOF vs target")
    return figs.svg(fig, f"residuals-{run.id}", f"regression: {how}; the dashed line is prediction = target "
                                                  "(confusion matrix, ROC/PR and calibration do not apply)")


def _confusion(run: Run, y: np.ndarray, panels: list[tuple[np.ndarray, str]], labels: list[str], figs: Figs,
               caption: str) -> Markup:
    """One confusion matrix per (predicted labels, subtitle) panel, side by side."""
    from sklearn import metrics as skm

    plt = pyplot()
    k = len(labels)
    side = min(3.4 + 0.22 * max(k - 2, 0), 8.0)
    fig, axes = plt.subplots(1, len(panels), figsize=(side * len(panels) + 0.4, side), squeeze=False)
    for ax, (yhat, sub) in zip(axes[0], panels):
        cm = skm.confusion_matrix(y, yhat, labels=list(range(k)))
        ax.imshow(cm, cmap="Blues")
        ax.grid(False)
        if k <= 30:
            for (a, b), v in np.ndenumerate(cm):
                ax.text(b, a, str(v), ha="center", va="center", fontsize=8 if k > 10 else 9,
                        color="black" if v < cm.max() / 2 else "white")
        ax.set_xticks(range(k), labels if k <= 30 else [""] * k, rotation=45)
        ax.set_yticks(range(k), labels if k <= 30 else [""] * k)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(sub, fontsize=8)
    fig.suptitle(f"{run.id}: confusion matrix", fontsize=9)
    return figs.svg(fig, f"confusion-{run.id}", caption)


def probabilities(P: np.ndarray, task: str) -> np.ndarray:
    """OOF prediction columns as float64; for multiclass and distribution rows clipped at 0 and scaled
    to sum to one (float32 probabilities are off by ~1e-7, which sklearn's probability checks warn about).

    >>> p = probabilities(np.array([[0.2, 0.3, 0.5000001]], dtype=np.float32), "multiclass")
    >>> p.dtype.name, bool(abs(p.sum() - 1) < 1e-15)
    ('float64', True)
    """
    P = np.asarray(P, dtype=np.float64)
    if task in ("multiclass", "distribution") and P.ndim == 2 and P.shape[1] > 1:
        P = np.clip(P, 0.0, None)
        s = P.sum(axis=1, keepdims=True)
        P = np.divide(P, s, out=np.full_like(P, 1.0 / P.shape[1]), where=s > 0)
    return P


def binary_thresholds(y: np.ndarray, p1: np.ndarray) -> dict[str, dict[str, float]]:
    """Two informative cut-offs of positive-class scores: ``f1`` (the threshold maximising F1, with that
    F1) and ``prevalence`` (the score quantile that calls the true positive ``rate`` of rows positive).

    >>> y = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1]); p = np.array([.1, .1, .2, .2, .3, .3, .35, .5, .4, .6])
    >>> t = binary_thresholds(y, p)
    >>> t["f1"]["threshold"], round(t["f1"]["f1"], 3), t["prevalence"]["rate"], round(t["prevalence"]["threshold"], 3)
    (0.4, 0.8, 0.2, 0.42)
    """
    from sklearn import metrics as skm

    y, p1 = np.asarray(y).astype(int), np.asarray(p1, dtype=np.float64)
    prec, rec, thr = skm.precision_recall_curve(y, p1)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(prec), where=(prec + rec) > 0)[:-1]
    i = int(np.argmax(f1))
    rate = float(y.mean())
    return {"f1": {"threshold": float(thr[i]), "f1": float(f1[i])},
            "prevalence": {"threshold": float(np.quantile(p1, 1.0 - rate)), "rate": rate}}


def _binary_curves(run: Run, y: np.ndarray, p1: np.ndarray, figs: Figs) -> list[Markup]:
    """ROC and precision–recall side by side, then the reliability diagram of the positive class."""
    from sklearn import metrics as skm
    from sklearn.calibration import calibration_curve

    plt = pyplot()
    fpr, tpr = thin(*skm.roc_curve(y, p1)[:2])
    prec, rec, _ = skm.precision_recall_curve(y, p1, drop_intermediate=True)
    rec, prec = thin(rec, prec)
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
    out = [figs.svg(fig, f"roc-pr-{run.id}")]
    frac, mean = calibration_curve(y, np.clip(p1, 0, 1), n_bins=10, strategy="quantile")
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    ax.plot(mean, frac, marker="o")
    ax.plot([0, 1], [0, 1], ls="--", color="grey")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("fraction positive")
    ax.set_title(f"{run.id}: calibration (Brier {skm.brier_score_loss(y, np.clip(p1, 0, 1)):.4f})")
    out.append(figs.svg(fig, f"calibration-{run.id}"))
    return out


def _multiclass_curves(run: Run, y: np.ndarray, P: np.ndarray, labels: list[str], figs: Figs) -> list[Markup]:
    """One-vs-rest ROC and precision–recall (first ten classes), then top-class calibration."""
    from sklearn import metrics as skm
    from sklearn.calibration import calibration_curve
    from sklearn.preprocessing import label_binarize

    plt = pyplot()
    Y = label_binarize(y, classes=list(range(len(labels))))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.6))
    for k, lab in enumerate(labels[:10]):
        if Y[:, k].min() == Y[:, k].max():
            continue
        fpr, tpr = thin(*skm.roc_curve(Y[:, k], P[:, k])[:2], max_points=400)
        rec, prec = thin(*skm.precision_recall_curve(Y[:, k], P[:, k], drop_intermediate=True)[1::-1], max_points=400)
        a1.plot(fpr, tpr, lw=1, label=lab)
        a2.plot(rec, prec, lw=1, label=lab)
    a1.set_title("ROC (one vs rest)")
    a2.set_title("precision–recall (one vs rest)")
    a1.legend(fontsize=6)
    out = [figs.svg(fig, f"roc-pr-{run.id}")]
    conf = P.max(axis=1)
    correct = (P.argmax(axis=1) == y).astype(int)
    frac, mean = calibration_curve(correct, np.clip(conf, 0, 1), n_bins=10, strategy="quantile")
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    ax.plot(mean, frac, marker="o")
    ax.plot([0, 1], [0, 1], ls="--", color="grey")
    ax.set_title(f"{run.id}: top-class calibration")
    out.append(figs.svg(fig, f"calibration-{run.id}"))
    return out


def importance_section(run: Run, figs: Figs) -> Markup:
    """Top-20 features by gain (mean ± std over folds × seeds), or a note when the model has none."""
    imp = run.importance()
    if imp is None or imp.height == 0:
        return parts().note(f"{run.id}: no feature importance (this model family has none).")
    top = imp.head(20).reverse()
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 0.4 + 0.24 * top.height))
    err = top.get_column("gain_std").fill_null(0).to_numpy() if "gain_std" in top.columns else None
    ax.barh(top.get_column("feature").to_list(), top.get_column("gain").to_numpy(), xerr=err, color="#2ca02c")
    ax.set_xlabel("gain (mean ± std over folds × seeds)")
    ax.set_title(f"{run.id}: feature importance (top {top.height})")
    return figs.svg(fig, f"importance-{run.id}")
