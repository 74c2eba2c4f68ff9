"""Per-run diagnostics from the OOF predictions: confusion matrix, ROC/PR, calibration (by task), importance."""

from __future__ import annotations

import numpy as np
import polars as pl

from medalist.report.plots import Figs, pyplot
from medalist.report.render import Markup, join, parts
from medalist.runs.store import Run

__all__ = ["diagnostics_section", "importance_section"]


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
        return join([note, _confusion(run, y, yhat, [str(c) for c in classes or truth.columns[1:]], task, figs)])
    y = j.get_column(truth.columns[1]).to_numpy()
    y = y.astype(int) if y.dtype != object else y
    P = j.select(cols).to_numpy().astype(float)
    labels = [str(c) for c in (classes or [0, 1])]
    if task == "binary":
        y = y.astype(int)
        yhat = (P[:, 0] >= 0.5).astype(int)
    else:
        yhat = P.argmax(axis=1)
    out = [_confusion(run, y, yhat, labels, task, figs)]
    if task == "binary" and len(np.unique(y)) == 2:
        out += _binary_curves(run, y, P[:, 0], figs)
    elif task == "multiclass":
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


def _regression(run: Run, y: np.ndarray, p: np.ndarray, figs: Figs) -> Markup:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.scatter(y, p, s=4, alpha=0.4)
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], ls="--", color="grey")
    ax.set_xlabel("target")
    ax.set_ylabel("OOF prediction")
    ax.set_title(f"{run.id}: OOF vs target")
    return figs.svg(fig, f"residuals-{run.id}", "regression: confusion matrix, ROC/PR and calibration do not apply")


def _confusion(run: Run, y: np.ndarray, yhat: np.ndarray, labels: list[str], task: str, figs: Figs) -> Markup:
    from sklearn import metrics as skm

    plt = pyplot()
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
    return figs.svg(fig, f"confusion-{run.id}")


def _binary_curves(run: Run, y: np.ndarray, p1: np.ndarray, figs: Figs) -> list[Markup]:
    """ROC and precision–recall side by side, then the reliability diagram of the positive class."""
    from sklearn import metrics as skm
    from sklearn.calibration import calibration_curve

    plt = pyplot()
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
        fpr, tpr, _ = skm.roc_curve(Y[:, k], P[:, k])
        prec, rec, _ = skm.precision_recall_curve(Y[:, k], P[:, k])
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
