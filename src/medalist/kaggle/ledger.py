"""The CV–LB ledger: every submission linked to the run (and CV) that produced it.

``submissions/submissions.parquet`` is written by :func:`medalist.kaggle.submit.submit`; this module reads
it back with the runs' CVs, syncs Kaggle's scores into it (``medalist lb sync``), measures how well
CV tracks the leaderboard (Pearson/Spearman) and proposes the final two submissions
(``medalist pick``: trust your CV — best CV first, then a diverse second).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import RunError, SubmissionError
from medalist.core.io import atomic_write_parquet
from medalist.runs.store import Run, list_runs

__all__ = ["read_ledger", "description", "parse_description", "ledger", "correlation", "sync", "pick", "Pick", "scatter_png", "LEDGER_SCHEMA"]

LEDGER_SCHEMA = {
    "time": pl.String, "run": pl.String, "file": pl.String, "metric": pl.String, "cv": pl.Float64,
    "public": pl.Float64, "private": pl.Float64, "local": pl.Boolean, "message": pl.String,
    "competition": pl.String, "kaggle_ref": pl.Int64, "status": pl.String, "description": pl.String,
    "kernel": pl.String, "git": pl.String,
}
_DESC_RE = re.compile(r"\[medalist run=(?P<run>[A-Za-z0-9_.-]+)(?: cv=(?P<cv>[-+0-9.eE]+|nan|None))?(?: git=(?P<git>[0-9a-f]+))?\]")

# below these, a CV–LB correlation is not evidence (trust LB only when correlation is known good)
MIN_PAIRS = 5
WEAK_CORR = 0.5


def description(run_id: str | None, cv: float | None, git: str | None, message: str = "") -> str:
    """The Kaggle submission description: ``MSG [medalist run=ID cv=X git=SHA]`` (parsed back by lb sync).

    >>> description("lgbm-001", 0.812345678, "abc1234def", "baseline")
    'baseline [medalist run=lgbm-001 cv=0.812346 git=abc1234]'
    """
    if run_id is None:
        return message
    tag = f"[medalist run={run_id}"
    if cv is not None and not (isinstance(cv, float) and math.isnan(cv)):
        tag += f" cv={cv:.6g}"
    if git:
        tag += f" git={git[:7]}"
    tag += "]"
    return f"{message} {tag}".strip()


def parse_description(text: str | None) -> dict[str, Any]:
    """Run id, CV and git commit from a description written by :func:`description`.

    >>> parse_description("try x [medalist run=lgbm-002 cv=0.81 git=abc1234]")
    {'run': 'lgbm-002', 'cv': 0.81, 'git': 'abc1234'}
    """
    m = _DESC_RE.search(text or "")
    if not m:
        return {}
    cv = m["cv"]
    try:
        cvf = float(cv) if cv not in (None, "None") else None
    except ValueError:
        cvf = None
    return {"run": m["run"], "cv": cvf, "git": m["git"]}


def read_ledger(ws) -> pl.DataFrame:
    p = ws.submissions_dir / "submissions.parquet"
    return pl.read_parquet(p) if p.is_file() else pl.DataFrame()


def _normalize(frame: pl.DataFrame) -> pl.DataFrame:
    missing = {c: t for c, t in LEDGER_SCHEMA.items() if c not in frame.columns}
    if missing:
        frame = frame.with_columns([pl.lit(None, dtype=t).alias(c) for c, t in missing.items()])
    return frame.with_columns([pl.col(c).cast(t, strict=False) for c, t in LEDGER_SCHEMA.items()])


def ledger(ws) -> pl.DataFrame:
    """The ledger with every column of :data:`LEDGER_SCHEMA` (empty frame if nothing was submitted),
    the run's model family and folds hash joined in."""
    led = read_ledger(ws)
    if led.height == 0:
        led = pl.DataFrame(schema=LEDGER_SCHEMA)
    led = _normalize(led)
    runs = {r.id: r for r in list_runs(ws)}
    model = [runs[r].record.model if r in runs else None for r in led.get_column("run").to_list()]
    cv = [c if c is not None else (runs[r].cv if r in runs else None) for r, c in zip(led.get_column("run").to_list(), led.get_column("cv").to_list())]
    return led.with_columns(pl.Series("model", model, dtype=pl.String), pl.Series("cv", cv, dtype=pl.Float64))


def _write(ws, frame: pl.DataFrame) -> None:
    frame = _normalize(frame).select(list(LEDGER_SCHEMA))
    atomic_write_parquet(ws.submissions_dir / "submissions.parquet", frame)


# ----------------------------------------------------------------------------- correlation
def _rank(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(x)


def correlation(frame: pl.DataFrame, *, score: str = "public") -> dict[str, Any]:
    """Pearson and Spearman correlation of CV with ``score`` over the rows having both (one row per run:
    the latest score of each run), with the sample size and a warning when it is not evidence."""
    f = frame.filter(pl.col("cv").is_not_null() & pl.col(score).is_not_null() & pl.col("cv").is_finite() & pl.col(score).is_finite())
    if "run" in f.columns and f.height:
        f = f.with_columns(pl.col("run").fill_null(pl.col("file"))).unique(subset=["run"], keep="last", maintain_order=True)
    n = f.height
    out: dict[str, Any] = {"score": score, "n": n, "pearson": None, "spearman": None, "warning": None}
    if n >= 3:
        x, y = f.get_column("cv").to_numpy(), f.get_column(score).to_numpy()
        if np.std(x) > 0 and np.std(y) > 0:
            out["pearson"] = float(np.corrcoef(x, y)[0, 1])
            rx, ry = _rank(x), _rank(y)
            out["spearman"] = float(np.corrcoef(rx, ry)[0, 1]) if np.std(rx) > 0 and np.std(ry) > 0 else None
    if n < MIN_PAIRS:
        out["warning"] = (f"only {n} runs with both CV and a {score} score (< {MIN_PAIRS}): the CV–LB correlation is not "
                          "known yet — pick by CV (trust your CV)")
    elif out["spearman"] is None or out["spearman"] < WEAK_CORR:
        sp = "undefined" if out["spearman"] is None else f"{out['spearman']:.2f}"
        out["warning"] = (f"weak CV–LB correlation (Spearman {sp} < {WEAK_CORR} over {n} runs): suspect near-duplicates "
                          "across train/valid, leaks or a folds scheme unlike the test split; do not chase the public LB")
    return out


# ----------------------------------------------------------------------------- sync
def sync(ws, competition: str, *, api=None, remote: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Pull the competition's submissions from Kaggle and merge public/private scores and status into
    the ledger; link each one to its run (by Kaggle ref, else by the run id in its description).
    Submissions made outside medalist are added as new rows (run parsed from the description, if any)."""
    from medalist.kaggle.api import list_submissions

    if remote is None:
        remote = list_submissions(competition, api=api)
    led = ledger(ws).drop("model")
    rows = led.to_dicts()
    by_ref = {r["kaggle_ref"]: i for i, r in enumerate(rows) if r.get("kaggle_ref") is not None}
    runs = {r.id: r for r in list_runs(ws)}
    updated = added = linked = 0
    for s in remote:
        parsed = parse_description(s["description"])
        i = by_ref.get(s["ref"])
        if i is None:  # uploaded before the ref was known, or by a team-mate: match an unlinked row by description
            for j, r in enumerate(rows):
                if r.get("kaggle_ref") is None and r.get("competition") == competition and r.get("description") == s["description"]:
                    i = j
                    break
        if i is None:
            run_id = parsed.get("run")
            rows.append({
                "time": s["date"], "run": run_id, "file": s["file_name"], "metric": ws.competition.metric if isinstance(ws.competition.metric, str) else None,
                "cv": parsed.get("cv") if parsed.get("cv") is not None else (runs[run_id].cv if run_id in runs else None),
                "public": None, "private": None, "local": False, "message": s["description"], "competition": competition,
                "kaggle_ref": s["ref"], "status": None, "description": s["description"], "kernel": None, "git": parsed.get("git"),
            })
            i = len(rows) - 1
            added += 1
        else:
            updated += 1
        r = rows[i]
        r["kaggle_ref"] = s["ref"]
        r["status"] = s["status"]
        r["public"] = s["public"]
        r["private"] = s["private"]
        if r.get("run"):
            linked += 1
    frame = pl.DataFrame(rows, schema=LEDGER_SCHEMA) if rows else pl.DataFrame(schema=LEDGER_SCHEMA)
    _write(ws, frame)
    return {"competition": competition, "remote": len(remote), "updated": updated, "added": added, "linked": linked}


# ----------------------------------------------------------------------------- pick
@dataclass
class Pick:
    picks: list[dict[str, Any]]
    correlation: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"picks": self.picks, "correlation": self.correlation, "warnings": self.warnings}


def _oof_matrix(run: Run) -> tuple[np.ndarray, pl.Series] | None:
    try:
        oof = run.oof()
    except RunError:
        return None
    cols = run.record.pred_columns or [c for c in oof.columns if c.startswith("pred")]
    return oof.select(cols).to_numpy().astype(float), oof.get_column(oof.columns[0])


def oof_correlation(a: Run, b: Run) -> float | None:
    """Pearson correlation of two runs' OOF predictions over the rows both validated."""
    ma, mb = _oof_matrix(a), _oof_matrix(b)
    if ma is None or mb is None or ma[0].shape != mb[0].shape:
        return None
    if not (ma[1].cast(pl.String) == mb[1].cast(pl.String)).all():
        return None
    x, y = ma[0].ravel(), mb[0].ravel()
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
        return None
    return float(np.corrcoef(x[ok], y[ok])[0, 1])


def pick(ws, *, max_corr: float = 0.98, tolerance: float | None = None) -> Pick:
    """Propose the final two submissions.

    1. the best CV (trust your CV; public LB only used when CV–LB correlation is known to be good);
    2. a diverse second: among the runs whose CV is within ``tolerance`` of the best (default: the best
       run's fold std), the one with the lowest OOF correlation to the first, preferring another model
       family; if none is within tolerance, the next best CV.

    Candidates are the submitted runs of the ledger; with no submissions yet, every finished run.
    """
    led = ledger(ws)
    runs = {r.id: r for r in list_runs(ws) if r.status == "done"}
    corr = correlation(led)
    warnings: list[str] = [corr["warning"]] if corr["warning"] else []
    submitted = [r for r in dict.fromkeys(led.get_column("run").drop_nulls().to_list()) if r in runs]
    ids = submitted or list(runs)
    if not submitted:
        warnings.append("no submissions in the ledger yet: candidates are all finished runs")
    folds = {runs[i].record.folds_hash for i in ids}
    if len(folds) > 1:
        warnings.append(f"candidate runs use different folds ({', '.join(sorted(map(str, folds)))}): their CVs are not comparable")
    cands = [runs[i] for i in ids if runs[i].cv is not None and math.isfinite(runs[i].cv)]
    if not cands:
        raise SubmissionError("medalist pick", expected="finished runs with a CV", found="none", fix="train a run (`medalist train`)")
    direction = cands[0].metrics.get("direction", "maximize")
    sign = -1.0 if direction == "maximize" else 1.0
    cands.sort(key=lambda r: sign * r.cv)
    best = cands[0]
    lb = {r: (p, q) for r, p, q in led.select("run", "public", "private").iter_rows()}

    def row(r: Run, why: str, extra: dict | None = None) -> dict[str, Any]:
        pub, prv = lb.get(r.id, (None, None))
        return {"run": r.id, "model": r.record.model, "cv": r.cv, "public": pub, "private": prv,
                "submitted": r.id in submitted, "reason": why, **(extra or {})}

    picks = [row(best, "best CV (trust your CV)")]
    rest = cands[1:]
    if rest:
        tol = tolerance if tolerance is not None else float(best.metrics.get("std") or 0.0)
        near = [r for r in rest if abs(r.cv - best.cv) <= tol + 1e-12]
        scored = []
        for r in near:
            c = oof_correlation(best, r)
            other_family = r.record.model != best.record.model
            scored.append((c if c is not None else 1.0, not other_family, sign * r.cv, r, c, other_family))
        diverse = [s for s in scored if s[0] <= max_corr]
        if diverse:
            diverse.sort(key=lambda s: (s[1], s[0], s[2]))
            _, _, _, r, c, fam = diverse[0]
            why = (f"diverse: CV within {tol:.4g} of the best, OOF correlation {c:.3f} with {best.id}"
                   if c is not None else f"diverse: CV within {tol:.4g} of the best") + ("; another model family" if fam else "")
            picks.append(row(r, why, {"oof_corr": c}))
        else:
            r = rest[0]
            c = oof_correlation(best, r)
            why = (f"next best CV (no other run within {tol:.4g} of the best, the fold noise)" if not near else
                   f"next best CV (the runs within {tol:.4g} of the best are near-copies of it)")
            if c is not None:
                why += f"; OOF correlation {c:.3f} with {best.id}"
            picks.append(row(r, why, {"oof_corr": c}))
            if c is not None and c > max_corr:
                warnings.append(f"second pick {r.id} is almost the same model as {best.id} (OOF correlation {c:.3f}): little hedge")
    else:
        warnings.append("only one candidate run: no second pick")
    if corr["pearson"] is not None and corr["n"] >= MIN_PAIRS and corr["spearman"] is not None and corr["spearman"] >= WEAK_CORR:
        pub = led.filter(pl.col("public").is_not_null() & pl.col("run").is_in(list(runs)))
        if pub.height:
            desc = direction == "maximize"
            top = pub.sort("public", descending=desc, nulls_last=True).row(0, named=True)
            if top["run"] not in {p["run"] for p in picks}:
                warnings.append(f"best public LB is {top['run']} ({top['public']:.5g}), not picked: CV–LB correlation is good "
                                f"(Spearman {corr['spearman']:.2f}), so consider it")
    return Pick(picks, corr, warnings)


# ----------------------------------------------------------------------------- plot
def scatter_png(frame: pl.DataFrame, path: Path, *, score: str = "public", title: str | None = None) -> Path | None:
    """CV vs leaderboard scatter (matplotlib), one point per submission, labelled by run; None without points."""
    f = frame.filter(pl.col("cv").is_not_null() & pl.col(score).is_not_null())
    if f.height == 0:
        return None
    from medalist.core.optional import available

    if not available("matplotlib"):
        return None  # the ledger works without plots
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    x, y = f.get_column("cv").to_numpy(), f.get_column(score).to_numpy()
    ax.scatter(x, y, color="#1f77b4", zorder=3)
    for xi, yi, label in zip(x, y, f.get_column("run").to_list()):
        ax.annotate(str(label or "?"), (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
    lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
    ax.plot([lo, hi], [lo, hi], ls="--", color="grey", lw=0.8, label="CV = LB")
    ax.set_xlabel("CV (OOF)")
    ax.set_ylabel(f"{score} LB")
    ax.set_title(title or f"CV vs {score} leaderboard")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
