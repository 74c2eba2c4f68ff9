"""Question-choice policies for the noisy 20 Questions guesser, compared side by side.

An in-process replay of ``benchmarks/twentyq_bench.py``'s flip games: the same keywords (the 578
"things" of kaggle-environments 1.18.0, uniform prior), the same rule bank and every alphabetical split,
the same per-game random stream (game i of seed s draws its flips from
``default_rng(s * 1_000_003 + i)``, one draw per round, as ``medalist.twentyq.harness`` does) and the
same rule: ask, the answer is flipped with probability ε, guess the MAP keyword, a wrong guess is
excluded. With the shipped policy it reproduces the environment's solved counts game for game
(ε = 0.2: 448/578 for seed 0, 431/578 for seed 1), at ~10× the speed, so objectives can be compared
on thousands of games.

Policies (all score every alphabetical split of the candidates still weighted, plus the 95 rule
questions, and ask the best):

* ``shipped``   expected posterior entropy after this round's guess (``Guesser``'s objective)
* ``top2``      ... after removing the two heaviest candidates of each answer branch
* ``win1``      shipped objective − 1 × P(this round's guess is right)
* ``temp0.7``   shipped objective on the tempered posterior w^τ, τ from 0.7 (round 1) to 1 (round 20)
* ``dp2``       shipped, but the last two rounds maximise P(win) exactly (over the 20 best questions)

Every objective is measured against the ceiling for any strategy, ``medalist.twentyq.bound``
(0.759 at ε = 0.2 on the 578 keywords): the shipped policy's 0.749 on four seeds is within 1.3% of it.

    python benchmarks/twentyq_policies.py [--eps 0.2] [--seeds 0,1] [--limit N] [--only shipped,top2] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import log  # noqa: E402


class Sim:
    def __init__(self, words: list[str], eps: float):
        from medalist.twentyq.assemble import make_guesser

        self.g = make_guesser(words, eps=eps)
        self.n = len(words)
        self.eps = eps
        self.bank = self.g._matrix()[1]
        self.rank = np.empty(self.n, int)
        self.rank[self.g._order] = np.arange(self.n)

    def questions(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every alphabetical split of the still-weighted candidates, then the rule bank (rows: p(yes))."""
        keep = w > 1e-12 * w.max()
        idx = np.flatnonzero(keep[self.g._order])
        T = (self.rank[None, :] < idx[1:, None]).astype(float)
        return np.vstack([T, self.bank]), keep

    def scores(self, Q, w, ntop=1):
        from medalist.twentyq.guesser import _xlogx

        pt = self.eps + (1 - 2 * self.eps) * Q
        H, win = np.zeros(len(Q)), np.zeros(len(Q))
        for A in (pt * w, (1 - pt) * w):
            top = -np.partition(-A, ntop - 1, axis=1)[:, :ntop] if ntop > 1 else A.max(1, keepdims=True)
            rest = np.clip(A.sum(1) - top.sum(1), 0, None)
            H += -(_xlogx(A).sum(1) - _xlogx(top).sum(1)) + _xlogx(rest)
            win += A.max(1)
        return H, win

    def policy(self, name: str):
        eps = self.eps

        def pick(w, R, ntop=1, lam=0.0):
            Q, keep = self.questions(w)
            H, win = self.scores(Q[:, keep], w[keep], ntop)
            return Q, H - lam * win

        def shipped(w, R):
            # the Guesser's own code path (prefix sums over the sorted splits, then the bank if strictly
            # better), so ties break exactly as in the games played through the environment
            from medalist.twentyq.guesser import _threshold_entropy, expected_entropy

            keep = w > 1e-12 * w.max()
            idx = np.flatnonzero(keep[self.g._order])
            e = _threshold_entropy(w[self.g._order][idx], eps, True)
            j = int(np.argmin(e))
            p = (self.rank < idx[j + 1]).astype(float)
            eb = expected_entropy(w[keep], self.bank[:, keep], eps, True)
            jb = int(np.argmin(eb))
            return self.bank[jb] if eb[jb] < e[j] - 1e-12 else p

        if name == "shipped":
            return shipped
        if name == "top2":
            return lambda w, R: (lambda Q, s: Q[int(np.argmin(s))])(*pick(w, R, ntop=2))
        if name == "win1":
            return lambda w, R: (lambda Q, s: Q[int(np.argmin(s))])(*pick(w, R, lam=1.0))
        if name == "temp0.7":
            def tempered(w, R):
                tau = 1.0 - 0.3 * (R - 1) / 19
                wt = w ** tau
                Q, s = pick(wt / wt.sum(), R)
                return Q[int(np.argmin(s))]
            return tempered
        if name == "dp2":
            def one_left(wu):
                Q, keep = self.questions(wu)
                pt = eps + (1 - 2 * eps) * Q[:, keep]
                return float(((pt * wu[keep]).max(1) + ((1 - pt) * wu[keep]).max(1)).max())

            def dp2(w, R):
                if R > 2:
                    return shipped(w, R)
                Q, s = pick(w, R)
                pt = eps + (1 - 2 * eps) * Q
                if R == 1:
                    return Q[int(np.argmax((pt * w).max(1) + ((1 - pt) * w).max(1)))]
                best, bq = -1.0, Q[int(np.argmin(s))]
                for c in np.argsort(s)[:20]:
                    v = 0.0
                    for A in (pt[c] * w, (1 - pt[c]) * w):
                        g = int(A.argmax())
                        rest = A.copy()
                        rest[g] = 0
                        v += A[g] + (one_left(rest) if rest.sum() > 0 else 0.0)
                    if v > best:
                        best, bq = v, Q[c]
                return bq
            return dp2
        raise ValueError(f"unknown policy {name!r}")

    def play(self, policy, truth: int, seed: int, rounds: int = 20) -> int | None:
        rng = np.random.default_rng(seed)
        logw = np.full(self.n, -math.log(self.n))
        out = np.zeros(self.n, bool)
        for r in range(1, rounds + 1):
            lw = np.where(out, -np.inf, logw)
            w = np.exp(lw - lw.max())
            p = policy(w / w.sum(), rounds - r + 1)
            yes = bool(p[truth])
            if self.eps > 0 and rng.random() < self.eps:
                yes = not yes
            pt = self.eps + (1 - 2 * self.eps) * p
            logw = logw + np.log(pt if yes else 1 - pt)
            guess = int(np.argmax(np.where(out, -np.inf, logw)))
            if guess == truth:
                return r
            out[guess] = True
        return None


POLICIES = ("shipped", "top2", "win1", "temp0.7", "dp2")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eps", type=float, default=0.2)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--limit", type=int, default=None, help="only the first N keywords")
    ap.add_argument("--only", default=",".join(POLICIES))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from medalist.twentyq.harness import wilson
    from medalist.twentyq.keywords import env_keywords

    words = [k.keyword for k in env_keywords()]
    sim = Sim(words, args.eps)
    games = range(len(words))[: args.limit]
    seeds = [int(s) for s in args.seeds.split(",")]
    out = {}
    for name in args.only.split(","):
        pol = sim.policy(name)
        t = time.perf_counter()
        per_seed = [sum(sim.play(pol, i, s * 1_000_003 + i) is not None for i in games) for s in seeds]
        k, m = sum(per_seed), len(seeds) * len(games)
        out[name] = {"solved": k, "games": m, "solve_rate": k / m, "solve_rate_ci95": list(wilson(k, m)),
                     "per_seed": per_seed, "seconds": round(time.perf_counter() - t, 1)}
        log(f"{name}: {json.dumps(out[name])}")
    from medalist.twentyq.bound import solve_rate_bound

    best = solve_rate_bound(len(games), args.eps)
    if args.json:
        print(json.dumps({"eps": args.eps, "seeds": seeds, "solve_rate_bound": best, "policies": out}))
        return 0
    print(f"ε = {args.eps}, seeds {seeds}, {len(games)} keywords; no guesser can exceed an expected "
          f"solve rate of {best:.3f} (medalist.twentyq.bound)")
    print(f"{'policy':<10} {'solved':>12} {'rate':>6} {'95% CI':>15} {'per seed':>16}")
    for name, r in out.items():
        lo, hi = r["solve_rate_ci95"]
        frac, ci = f"{r['solved']}/{r['games']}", f"[{lo:.3f},{hi:.3f}]"
        print(f"{name:<10} {frac:>12} {r['solve_rate']:>6.3f} {ci:>15} {str(r['per_seed']):>16}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
