"""20 Questions agent through kaggle-environments' llm_20_questions on its 578 unique "things".

Plays one game per keyword (team 1 = medalist's guesser + answerer, team 2 = a passive pair that never
wins) for each answerer setting and prints solve rate (Wilson 95% CI), mean and worst rounds of the
solved games and mean reward; ``--json`` prints one JSON object {setting: result}.

Targets (issue 8 / TECHNIQUES §8): exact answerer 100% solved with mean rounds at the information
bound, 7.263 without the Agent-Alpha handshake (worst 9) and 8.247 with it (worst 10); flip-noise
answerer ≥ 97% solved at ε = 0.1 and ≥ 78% at ε = 0.2. The "best" column is the highest expected
solve rate ANY guesser can reach against that answerer (medalist.twentyq.bound, a linear-programming
bound): 0.978 at ε = 0.1 and 0.759 at ε = 0.2, so the 78% target is out of reach for every strategy.

    python benchmarks/twentyq_bench.py [--limit N] [--only exact,flip0.1] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import log  # noqa: E402

SETTINGS = {
    "exact": dict(answerer="exact", eps=0.0, guesser_eps=0.0, handshake=False),
    "exact+handshake": dict(answerer="exact", eps=0.0, guesser_eps=0.0, handshake=True),
    "flip0.1": dict(answerer="flip", eps=0.1, guesser_eps=0.1, handshake=False),
    "flip0.2": dict(answerer="flip", eps=0.2, guesser_eps=0.2, handshake=False),
}


def information_bound(n: int, handshake: bool) -> tuple[float, int]:
    """Mean and worst round when every round's question halves the rest and the guess removes one:
    2^r keywords can be solved in round r (one fewer round of questions with the handshake)."""
    left, total, r, worst = n, 0, 0, 0
    if handshake:
        total, left, r = 1, n - 1, 1
    k = 1
    while left > 0:
        take = min(left, 2 ** k)
        total += take * (r + 1)
        left -= take
        worst = r + 1
        r, k = r + 1, k + 1
    return total / n, worst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="only the first N keywords")
    ap.add_argument("--only", default=",".join(SETTINGS), help="comma-separated settings: " + ", ".join(SETTINGS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from medalist.twentyq.assemble import make_guesser
    from medalist.twentyq.harness import bench
    from medalist.twentyq.keywords import env_keywords

    kws = env_keywords()[: args.limit]
    out = {}
    for name in args.only.split(","):
        s = SETTINGS[name]
        g = make_guesser([k.keyword for k in kws], eps=s["guesser_eps"], handshake=s["handshake"])
        t = time.perf_counter()
        res = bench(kws, g, answerer=s["answerer"], eps=s["eps"], seed=args.seed,
                    progress=lambda i, n, r: i % 100 == 0 and log(f"{name}: {i}/{n}"))
        res["seconds"] = round(time.perf_counter() - t, 1)
        if s["answerer"] == "exact":
            res["bound_mean"], res["bound_worst"] = information_bound(len(kws), s["handshake"])
        out[name] = res
        log(f"{name}: {json.dumps({k: v for k, v in res.items() if k != 'failures'})}")
    if args.json:
        print(json.dumps(out))
        return 0
    head = (f"{'setting':<16} {'games':>5} {'solved':>7} {'95% CI':>15} {'best':>6} {'mean rnd':>8} {'bound':>6} "
            f"{'worst':>5} {'reward':>7}")
    print(head)
    print("-" * len(head))
    for name, r in out.items():
        lo, hi = r["solve_rate_ci95"]
        bound = f"{r['bound_mean']:.3f}" if "bound_mean" in r else "-"
        best = "-" if r.get("solve_rate_bound") is None else f"{r['solve_rate_bound']:.3f}"
        print(f"{name:<16} {r['games']:>5} {r['solve_rate']:>7.3f} {f'[{lo:.3f},{hi:.3f}]':>15} {best:>6} "
              f"{r['mean_rounds']:>8.3f} {bound:>6} {str(r['worst_round']):>5} {r['mean_reward']:>7.3f}")
    print("best: the highest expected solve rate any guesser can reach (medalist.twentyq.bound); "
          "bound: the fewest mean rounds for exact answers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
