"""``medalist report``: one self-contained HTML file about the runs of a workspace.

Sections: runs leaderboard (with the ledger's LB scores), per-fold scores, learning curves (train vs
valid with the over/under-fitting reading), confusion matrix, ROC and PR curves,
calibration, feature importance, CV–LB scatter and the submission timeline. Plots are matplotlib
figures inlined as SVG, their dense parts (a big regression run's OOF hexbin) rasterised inside them
so the file stays a few hundred KB per run at any row count; there is no script, stylesheet or font
from outside the file. The page is
``templates/report.html.j2``; the sections come from :mod:`~medalist.report.leaderboard`,
:mod:`~medalist.report.curves` and :mod:`~medalist.report.diagnostics`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from medalist.core.errors import MedalistError, RunError
from medalist.report.curves import curve_reading, curves_section, recomputes_train_curve
from medalist.report.data import load_data, load_truth
from medalist.report.diagnostics import diagnostics_section, importance_section
from medalist.report.leaderboard import (
    folds_section,
    leaderboard_section,
    submissions_section,
)
from medalist.report.boxes import boxes_section
from medalist.report.masks import masks_section
from medalist.report.plots import Figs
from medalist.report.render import Markup, join, parts, render_page
from medalist.runs.store import Run, list_runs

__all__ = ["build_report", "curve_reading"]

MAX_DETAILED = 6  # runs with per-run diagnostic plots (the best by CV)


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
    figs = Figs()
    try:
        folds = Folds.load(ws.folds_path)
    except MedalistError:
        folds = None
    sections = [
        ("leaderboard", "Runs leaderboard", leaderboard_section(runs, led, direction)),
        ("folds", "Per-fold scores", folds_section(ranked, figs)),
        ("runs", "Per-run diagnostics: learning curves, confusion matrix, ROC/PR, calibration, importance",
         _per_run(ws, ranked, folds, figs)),
        ("lb", "CV–LB and submissions", submissions_section(led, figs)),
    ]
    page = render_page(
        name=comp.name, task=comp.task, metric=comp.metric if isinstance(comp.metric, str) else str(comp.metric),
        direction=direction, n_runs=len(runs), folds_hash=str(folds.hash if folds else "-"),
        now=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        sections=[{"id": k, "title": t, "body": body} for k, t, body in sections],
    )
    assert_no_secrets({"report": page.encode()}, "report")
    out = Path(out)
    from medalist.core.io import atomic_write_text

    atomic_write_text(out, page)
    return {"path": str(out), "runs": [r.id for r in runs], "plots": figs.n, "bytes": out.stat().st_size}


def _per_run(ws, ranked: list[Run], folds, figs: Figs) -> Markup:
    """Curves, diagnostics and importance for the best ``MAX_DETAILED`` runs."""
    try:
        truth, classes, task = load_truth(ws)
    except MedalistError:
        truth, classes, task = None, None, ws.competition.task
    detail = []
    for r in ranked[:MAX_DETAILED]:
        data = splits = problem = None
        if folds is not None and r.record.folds_hash == folds.hash and recomputes_train_curve(r):
            try:
                data = load_data(ws, r)
                splits = folds.splits(data.train)
            except MedalistError as e:
                data = splits = None
                problem = f"{r.id}: train curves not recomputed (the run's data did not load: {e})"
        detail.append(parts().run_heading(r.id, str(r.record.model), r.cv))
        if problem:
            detail.append(parts().note(problem))
        detail.append(curves_section(ws, r, data, splits or [], figs))
        if truth is not None:
            try:
                detail.append(diagnostics_section(r, truth, classes, task, figs))
            except RunError:
                detail.append(parts().note(f"{r.id}: no OOF predictions."))
        detail.append(importance_section(r, figs))
        detail.append(masks_section(ws, r, figs))  # segmentation runs: the worst OOF masks
        detail.append(boxes_section(ws, r, figs))  # detection runs: the worst OOF boxes
    if len(ranked) > MAX_DETAILED:
        detail.append(parts().note(f"Detailed plots for the {MAX_DETAILED} best runs only."))
    return join(detail)
