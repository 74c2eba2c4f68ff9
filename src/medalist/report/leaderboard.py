"""The sections that compare runs: the runs leaderboard, per-fold scores, and CV–LB with the submissions."""

from __future__ import annotations

import numpy as np
import polars as pl

from medalist.report.plots import Figs, pyplot
from medalist.report.render import Markup, join, parts, table
from medalist.runs.store import Run

__all__ = ["leaderboard_section", "folds_section", "submissions_section"]


def leaderboard_section(runs: list[Run], led: pl.DataFrame, direction: str) -> Markup:
    """Every run by CV with its fold spread, leaderboard scores (from the ledger), time, folds and note."""
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
    return table(["run", "model", "CV (OOF)", "fold mean", "fold std", "public", "private", "seconds", "folds", "note"], rows, "leaderboard")


def folds_section(runs: list[Run], figs: Figs) -> Markup:
    """Each run's fold scores as dots (and a table): a wide spread means a noisy CV."""
    plt = pyplot()
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
    folds_table = table(["run", *[f"fold {i}" for i in range(width)]], rows, "folds")
    return figs.svg(fig, "folds", "each dot is one fold's score; a wide spread means a noisy CV") + folds_table


def submissions_section(led: pl.DataFrame, figs: Figs) -> Markup:
    """CV vs leaderboard scatter, the submission timeline and the ledger table (a note before any submission)."""
    if led.height == 0:
        return parts().note("No submissions yet (medalist submit RUN).")
    out = []
    f = led.filter(pl.col("cv").is_not_null() & pl.col("public").is_not_null())
    if f.height:
        out.append(_cv_lb(led, f, figs))
    t = led.filter(pl.col("time").is_not_null()).with_columns(pl.col("time").str.slice(0, 19).str.to_datetime(strict=False).alias("_t"))
    t = t.filter(pl.col("_t").is_not_null()).sort("_t")
    if t.height:
        out.append(_timeline(t, figs))
    rows = [[r["time"], r["run"], r["cv"], r["public"], r["private"], r["status"] or ("local" if r["local"] else ""), r["message"]]
            for r in led.iter_rows(named=True)]
    out.append(table(["time", "run", "CV", "public", "private", "status", "message"], rows, "ledger"))
    return join(out)


def _cv_lb(led: pl.DataFrame, f: pl.DataFrame, figs: Figs) -> Markup:
    """Scatter of CV against public (and private) LB for the scored submissions ``f``, with the correlation."""
    from medalist.kaggle.ledger import correlation

    plt = pyplot()
    corr = correlation(led)
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
    return figs.svg(fig, "cv-lb", corr["warning"] or "CV tracks the public LB")


def _timeline(t: pl.DataFrame, figs: Figs) -> Markup:
    plt = pyplot()
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
    return figs.svg(fig, "timeline")
