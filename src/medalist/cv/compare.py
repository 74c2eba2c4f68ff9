"""Is run B better than run A beyond noise? Paired per-fold differences and the seed-to-seed spread.

Run the baseline with several seeds to know the noise level before believing a small
improvement. ``compare`` retrains A's config with other seeds (or uses runs you name), measures the
spread of A's CV over seeds, and sets B's gain against it together with a paired t-test over folds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from medalist.core.errors import FoldsError, RunError
from medalist.runs.store import Run, list_runs
from medalist.runs.writer import RunWriter

__all__ = ["Comparison", "compare", "seed_replicas"]


@dataclass
class Comparison:
    a: Run
    b: Run
    metric: str
    direction: str
    folds: list[dict[str, Any]]
    seed_scores: dict[str, float] = field(default_factory=dict)  # run id -> CV of A and its seed replicas

    @property
    def sign(self) -> float:
        return 1.0 if self.direction == "maximize" else -1.0

    def summary(self) -> dict[str, Any]:
        diffs = np.array([f["diff"] for f in self.folds])
        cv_a, cv_b = float(self.a.cv), float(self.b.cv)
        gain = self.sign * (cv_b - cv_a)
        p = None
        if len(diffs) >= 2 and np.std(diffs) > 0:
            p = float(stats.ttest_1samp(diffs, 0.0).pvalue)
        seeds = list(self.seed_scores.values())
        seed_std = float(np.std(seeds, ddof=1)) if len(seeds) >= 2 else None
        if seed_std is None:
            beyond = bool(p is not None and p < 0.05 and gain > 0)
            verdict = ("B is better (paired folds p<0.05), but the seed noise of A is unknown: run with --seeds 2"
                       if beyond else "no evidence that B is better; seed noise unknown (run with --seeds 2)")
        else:
            beyond = bool(gain > 2 * seed_std)
            if beyond:
                verdict = f"B is better than A beyond seed noise: gain {gain:.6f} > 2 × seed std {seed_std:.6f}"
            elif gain < -2 * seed_std:
                verdict = f"B is worse than A beyond seed noise: gain {gain:.6f} < −2 × seed std {seed_std:.6f}"
            else:
                verdict = f"within noise: |gain| {abs(gain):.6f} ≤ 2 × seed std {seed_std:.6f}; don't believe it yet"
        return {
            "a": self.a.id, "b": self.b.id, "metric": self.metric, "direction": self.direction,
            "cv_a": cv_a, "cv_b": cv_b, "gain": gain, "folds": self.folds,
            "mean_fold_diff": float(diffs.mean()) if len(diffs) else None,
            "folds_b_better": int((diffs > 0).sum()), "p_value": p,
            "seed_scores": self.seed_scores, "n_seeds": len(seeds), "seed_std": seed_std,
            "beyond_noise": beyond, "verdict": verdict,
        }


def _fold_scores(run: Run) -> dict[tuple[int, int], float]:
    return {(int(f["repeat"]), int(f["fold"])): float(f["score"]) for f in run.metrics.get("folds", [])}


def seed_replicas(ws, a: Run) -> list[Run]:
    """Finished runs recorded as seed replicas of ``a`` (by an earlier compare)."""
    return [r for r in list_runs(ws) if (rec := r.record).seed_replica_of == a.id and rec.status == "done"]


def _retrain(ws, a: Run, seed: int, tracking: bool) -> Run:
    from medalist.cv.runner import train

    rec = a.record
    if not rec.config:
        raise RunError(f"run '{a.id}'", expected="a trained run whose config can be rerun with other seeds",
                       found=f"a {rec.model} run without a config",
                       fix="pass seed replicas with --noise RUN, or --seeds 0")
    path = Path(rec.config)
    path = path if path.is_absolute() else ws.root / path
    run = train(ws, path, [*rec.overrides, f"seeds=[{seed}]"], tracking=tracking,
                note=f"seed {seed} replica of {a.id} (noise for compare)")
    w = RunWriter(run.path, run.record)
    w.update(seed_replica_of=a.id)
    w.save()
    return run


def compare(ws, a: str, b: str, *, seeds: int = 2, noise_runs: list[str] | None = None, tracking: bool = False) -> Comparison:
    """Compare run ``b`` with baseline ``a`` on the same folds, knowing A's seed noise.

    ``seeds``: how many seed replicas of A to have (retrained from A's config when fewer exist);
    ``noise_runs``: replicas you already have (other seeds of A's config).

    >>> res = compare(Workspace.find(), "lgbm-001", "logreg-001", seeds=2)
    >>> res.summary()["verdict"]  # this LightGBM config has no bagging: its seeds agree exactly
    'B is better than A beyond seed noise: gain 0.000514 > 2 × seed std 0.000000'
    """
    ra, rb = Run.open(ws, a), Run.open(ws, b)
    for r in (ra, rb):
        if r.status != "done":
            raise RunError(f"run '{r.id}'", expected="a finished run", found=f"status '{r.status}'")
    rec_a, rec_b = ra.record, rb.record
    if rec_a.folds_hash != rec_b.folds_hash:
        raise FoldsError(f"run '{b}'", expected=f"the folds of '{a}' (hash {rec_a.folds_hash})",
                         found=f"folds hash {rec_b.folds_hash}", fix="compare runs made on the same folds")
    ma, mb = ra.metrics, rb.metrics
    if ma.get("metric") != mb.get("metric"):
        raise RunError(f"run '{b}'", expected=f"metric {ma.get('metric')} like '{a}'", found=str(mb.get("metric")))
    direction = ma.get("direction", "maximize")
    sign = 1.0 if direction == "maximize" else -1.0
    fa, fb = _fold_scores(ra), _fold_scores(rb)
    folds = [{"repeat": k[0], "fold": k[1], "a": fa[k], "b": fb[k], "diff": sign * (fb[k] - fa[k])} for k in sorted(fa) if k in fb]
    noise = [Run.open(ws, r) for r in (noise_runs or [])]
    for r in noise:
        if (fh := r.record.folds_hash) != rec_a.folds_hash:
            raise FoldsError(f"--noise {r.id}", expected="a replica of A on the same folds", found=f"folds hash {fh}")
    have = {r.id: r for r in [*noise, *seed_replicas(ws, ra)] if r.id not in (ra.id, rb.id)}
    used = {s for r in have.values() for s in r.record.seeds} | set(rec_a.seeds)
    seed = 1000
    while len(have) < seeds:
        while seed in used:
            seed += 1
        r = _retrain(ws, ra, seed, tracking)
        have[r.id] = r
        used.add(seed)
    scores = {ra.id: float(ra.cv), **{rid: float(r.cv) for rid, r in have.items()}}
    return Comparison(a=ra, b=rb, metric=str(ma.get("metric")), direction=direction, folds=folds, seed_scores=scores)
