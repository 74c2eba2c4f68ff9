"""Is run B better than run A beyond noise? Paired per-fold differences and the seed-to-seed spread.

Run the baseline with several seeds to know the noise level before believing a small
improvement. ``compare`` retrains A's config with other seeds (or uses runs you name), measures the
spread of A's CV over seeds, and sets B's gain against it together with the Nadeau–Bengio corrected
resampled t-test over the repeats × folds: the folds share training rows, so their differences are
correlated and a plain paired t-test is too confident. The corrected variance is
``(1/J + n_test/n_train) · s²`` over the ``J`` fold differences (``df = J - 1``). A replica of A has
as many seeds as A (a run averaging seeds [1, 2, 3] gets replicas of three fresh seeds each).
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

__all__ = ["Comparison", "NBTest", "compare", "nadeau_bengio", "repeats_needed", "seed_replicas"]


@dataclass(frozen=True)
class NBTest:
    """A (corrected or naive) resampled paired t-test of fold differences."""

    t: float | None
    df: int
    p: float | None
    corrected: bool
    ratio: float  # n_test / n_train used in the correction (0 for the naive test)


def nadeau_bengio(diffs, ratio: float, *, corrected: bool = True) -> NBTest:
    """Paired t-test of the fold differences ``diffs`` (repeats × folds), two-sided.

    ``corrected`` (Nadeau & Bengio, 2003): variance ``(1/J + ratio) · s²`` with ``ratio = n_test/n_train``
    and ``s²`` the sample variance (ddof 1) of the ``J`` differences; naive: ``s²/J``. ``df = J - 1``.

    >>> r = nadeau_bengio([0.01, 0.02, 0.03], ratio=0.5)
    >>> round(r.t, 4), r.df, round(r.p, 4)
    (2.1909, 2, 0.1598)
    >>> round(nadeau_bengio([0.01, 0.02, 0.03], ratio=0.5, corrected=False).t, 4)
    3.4641
    """
    d = np.asarray(diffs, dtype=float)
    j = len(d)
    ratio = float(ratio) if corrected else 0.0
    if j < 2:
        return NBTest(None, max(j - 1, 0), None, corrected, ratio)
    var = float(np.var(d, ddof=1))
    if var == 0:
        return NBTest(None, j - 1, None, corrected, ratio)
    t = float(d.mean() / np.sqrt((1.0 / j + ratio) * var))
    p = float(2 * stats.t.sf(abs(t), j - 1))
    return NBTest(t, j - 1, p, corrected, ratio)


def repeats_needed(diffs, ratio: float, folds: int, *, alpha: float = 0.05, max_repeats: int = 100) -> int | None:
    """Fewest repeats of ``folds`` folds at which the observed mean difference would be significant.

    Assumes the mean and variance of ``diffs`` stay as observed; the corrected test then has
    ``t(r) = mean / sqrt((1/(r·folds) + ratio) · s²)`` with ``r·folds - 1`` degrees of freedom. ``None``
    when no number up to ``max_repeats`` is enough (the ``ratio · s²`` term does not shrink with more
    repeats: a gain that small needs other evidence).

    >>> repeats_needed([0.01, 0.02, 0.03], ratio=0.5, folds=3)
    3
    >>> repeats_needed([0.01, -0.02, 0.015], ratio=0.5, folds=3) is None
    True
    """
    d = np.asarray(diffs, dtype=float)
    if len(d) < 2 or folds < 1:
        return None
    mean, var = float(d.mean()), float(np.var(d, ddof=1))
    if var == 0:
        return 1 if mean != 0 else None
    for r in range(1, max_repeats + 1):
        j = r * folds
        if j < 2:
            continue
        t = abs(mean) / np.sqrt((1.0 / j + ratio) * var)
        if 2 * stats.t.sf(t, j - 1) < alpha:
            return r
    return None


@dataclass
class Comparison:
    a: Run
    b: Run
    metric: str
    direction: str
    folds: list[dict[str, Any]]
    seed_scores: dict[str, float] = field(default_factory=dict)  # run id -> CV of A and its seed replicas
    alpha: float = 0.05
    ratio: float = 0.0  # mean n_valid / n_train over the folds (Nadeau–Bengio)

    @property
    def sign(self) -> float:
        return 1.0 if self.direction == "maximize" else -1.0

    def tests(self) -> tuple[NBTest, NBTest, int | None]:
        """(corrected test, naive test, repeats needed at ``alpha``) over the fold differences."""
        diffs = np.array([f["diff"] for f in self.folds])
        k = len({f["fold"] for f in self.folds}) or 1
        return (nadeau_bengio(diffs, self.ratio), nadeau_bengio(diffs, self.ratio, corrected=False),
                repeats_needed(diffs, self.ratio, k, alpha=self.alpha))

    def _verdict(self, gain: float, seed_std: float | None, nb: NBTest, need: int | None) -> tuple[bool, str]:
        k = len({f["fold"] for f in self.folds}) or 1
        r = len({f["repeat"] for f in self.folds}) or 1
        sig = nb.p is not None and nb.p < self.alpha
        if sig:
            test = f"corrected t-test p={nb.p:.4f} < {self.alpha}"
        elif need is None:
            test = f"corrected t-test not significant at {self.alpha}; more repeats would not resolve this gain"
        else:
            test = (f"corrected t-test not significant at {self.alpha}; needs ≈ {need} repeats of {k} folds "
                    f"(have {r}) to resolve it")
        if seed_std is None:
            beyond = bool(sig and gain > 0)
            head = ("B is better (corrected folds test), but the seed noise of A is unknown: run with --seeds 2"
                    if beyond else "no evidence that B is better; seed noise unknown (run with --seeds 2)")
            return beyond, f"{head}; {test}"
        beyond = bool(gain > 2 * seed_std)
        if beyond:
            head = f"B is better than A beyond seed noise: gain {gain:.6f} > 2 × seed std {seed_std:.6f}"
        elif gain < -2 * seed_std:
            head = f"B is worse than A beyond seed noise: gain {gain:.6f} < −2 × seed std {seed_std:.6f}"
        else:
            head = f"within noise: |gain| {abs(gain):.6f} ≤ 2 × seed std {seed_std:.6f}; don't believe it yet"
        return beyond, f"{head}; {test}"

    def summary(self) -> dict[str, Any]:
        diffs = np.array([f["diff"] for f in self.folds])
        cv_a, cv_b = float(self.a.cv), float(self.b.cv)
        gain = self.sign * (cv_b - cv_a)
        nb, naive, need = self.tests()
        seeds = list(self.seed_scores.values())
        seed_std = float(np.std(seeds, ddof=1)) if len(seeds) >= 2 else None
        beyond, verdict = self._verdict(gain, seed_std, nb, need)
        return {
            "a": self.a.id, "b": self.b.id, "metric": self.metric, "direction": self.direction,
            "cv_a": cv_a, "cv_b": cv_b, "gain": gain, "folds": self.folds,
            "mean_fold_diff": float(diffs.mean()) if len(diffs) else None,
            "folds_b_better": int((diffs > 0).sum()),
            "t": nb.t, "df": nb.df, "p": nb.p, "p_value": nb.p, "corrected": nb.corrected,
            "test_ratio": self.ratio, "p_naive": naive.p, "alpha": self.alpha, "repeats_needed": need,
            "significant": bool(nb.p is not None and nb.p < self.alpha),
            "seed_scores": self.seed_scores, "n_seeds": len(seeds), "seed_std": seed_std,
            "replica_seed_count": len(self.a.record.seeds) or 1,
            "beyond_noise": beyond, "verdict": verdict,
        }


def _fold_scores(run: Run) -> dict[tuple[int, int], float]:
    return {(int(f["repeat"]), int(f["fold"])): float(f["score"]) for f in run.metrics.get("folds", [])}


def seed_replicas(ws, a: Run) -> list[Run]:
    """Finished runs recorded as seed replicas of ``a`` (by an earlier compare) with as many seeds as ``a``."""
    n = len(a.record.seeds) or 1
    return [r for r in list_runs(ws)
            if (rec := r.record).seed_replica_of == a.id and rec.status == "done" and (len(rec.seeds) or 1) == n]


def _test_ratio(run: Run) -> float:
    """Mean ``n_valid / n_train`` over the run's folds (the Nadeau–Bengio ``n_test/n_train``)."""
    rs = [float(f["n_valid"]) / float(f["n_train"]) for f in run.metrics.get("folds", [])
          if f.get("n_train") and f.get("n_valid") is not None]
    if rs:
        return float(np.mean(rs))
    k = len({int(f["fold"]) for f in run.metrics.get("folds", [])})
    return 1.0 / (k - 1) if k > 1 else 0.0


def _retrain(ws, a: Run, seeds: list[int], tracking: bool) -> Run:
    from medalist.cv.runner import train

    rec = a.record
    if not rec.config:
        raise RunError(f"run '{a.id}'", expected="a trained run whose config can be rerun with other seeds",
                       found=f"a {rec.model} run without a config",
                       fix="pass seed replicas with --noise RUN, or --seeds 0")
    path = Path(rec.config)
    path = path if path.is_absolute() else ws.root / path
    listed = ", ".join(map(str, seeds))
    run = train(ws, path, [*rec.overrides, f"seeds=[{listed}]"], tracking=tracking,
                note=f"seeds {listed} replica of {a.id} (noise for compare)")
    w = RunWriter(run.path, run.record)
    w.update(seed_replica_of=a.id)
    w.save()
    return run


def _fresh_seeds(used: set[int], n: int, start: int = 1000) -> list[int]:
    out, seed = [], start
    while len(out) < n:
        if seed not in used:
            out.append(seed)
            used.add(seed)
        seed += 1
    return out


def compare(ws, a: str, b: str, *, seeds: int = 2, noise_runs: list[str] | None = None, tracking: bool = False,
            alpha: float = 0.05) -> Comparison:
    """Compare run ``b`` with baseline ``a`` on the same folds, knowing A's seed noise.

    ``seeds``: how many seed replicas of A to have (retrained from A's config when fewer exist; each
    replica averages as many fresh seeds as A does); ``noise_runs``: replicas you already have (other
    seeds of A's config). ``alpha``: level of the corrected t-test and of ``repeats_needed``.

    >>> res = compare(Workspace.find(), "lgbm-001", "logreg-001", seeds=2)
    >>> res.summary()["verdict"]  # this LightGBM config has no bagging: its seeds agree exactly
    'B is better than A beyond seed noise: gain 0.000514 > 2 × seed std 0.000000; corrected t-test ...'
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
    per_run = len(rec_a.seeds) or 1
    while len(have) < seeds:
        r = _retrain(ws, ra, _fresh_seeds(used, per_run), tracking)
        have[r.id] = r
    scores = {ra.id: float(ra.cv), **{rid: float(r.cv) for rid, r in have.items()}}
    return Comparison(a=ra, b=rb, metric=str(ma.get("metric")), direction=direction, folds=folds, seed_scores=scores,
                      alpha=alpha, ratio=_test_ratio(ra))
