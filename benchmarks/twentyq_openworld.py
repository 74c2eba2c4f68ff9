"""20 Questions in the open world: the guesser's candidates and prior built without the keywords played.

Held out: sha1(lowercase keyword) % 5 == 0 (123 of the 578 public "things"); the list is built from the
other 455 + WordNet (lemmas, gloss bigrams) + head compounds + wordfreq (medalist.twentyq.openworld), the
prior fitted on a split of the 455. Prints, per candidate count, held-out recall (the ceiling) and the mean
bits -log2 prior of the found keywords (about the rounds an exact game needs), then plays the held-out
games through kaggle-environments at --candidates with the exact answerer (or --answerer), reporting
solve rate, rounds, reward and seconds per round; ``--json`` prints one JSON object.

    python benchmarks/twentyq_openworld.py [--candidates 100000] [--answerer exact] [--limit N] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import log

CUTS = (20_000, 50_000, 100_000, 200_000, 300_000)


def replay(g, cut, kws, mm) -> dict:
    """Exact answers by rule (what the exact answerer does in the environment), one game per keyword."""
    import numpy as np

    from medalist.twentyq.rules import parse_rule, rule_truth, same_keyword

    won, rewards, move_s = [], [], []
    for i, k in enumerate(kws):
        if i % 10 == 0:
            log(f"replay {i}/{len(kws)}")
        qs, ans, gs, solved = [], [], [], None
        for r in range(1, 21):
            t = time.perf_counter()
            q = g.ask(qs, ans, gs)
            move_s.append(time.perf_counter() - t)
            parsed = parse_rule(q)
            qs.append(q)
            ans.append("yes" if parsed and rule_truth(parsed[0], parsed[1], k.keyword) else "no")
            t = time.perf_counter()
            gs.append(g.guess(qs, ans, gs))
            move_s.append(time.perf_counter() - t)
            if any(same_keyword(gs[-1], x) for x in (k.keyword, *k.alts)):
                solved = r
                break
        won.append(solved)
        rewards.append(21 - solved if solved else -1)
    rounds = [r for r in won if r]
    return {"games": len(kws), "solved": len(rounds), "solve_rate": len(rounds) / len(kws), "recall": float((mm >= 0).mean()),
            "mean_rounds": float(np.mean(rounds)) if rounds else float("nan"), "worst_round": max(rounds, default=None),
            "mean_reward": float(np.mean(rewards)), "candidate_groups": len(cut), "entries": len(g.candidates),
            "ms_per_move_mean": 1000 * float(np.mean(move_s)), "ms_per_move_max": 1000 * float(np.max(move_s)),
            "seconds": round(float(np.sum(move_s)), 1), "mode": "replay"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=100_000)
    ap.add_argument("--answerer", default="exact")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--every", type=int, default=1, help="play every k-th held-out keyword (a spread sample)")
    ap.add_argument("--no-games", action="store_true")
    ap.add_argument("--replay", action="store_true",
                    help="play in-process (exact rule answers, the guesser's own ask/guess; no environment), timing each move")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import numpy as np

    from medalist.twentyq.harness import bench
    from medalist.twentyq.keywords import env_keywords, split_keywords
    from medalist.twentyq.openworld import (
        cached_open_world,
        match_groups,
        open_world_guesser,
    )

    train, held = split_keywords(env_keywords())
    t = time.perf_counter()
    ow = cached_open_world([k.keyword for k in train], progress=log)
    out: dict = {"train_keywords": len(train), "held_out": len(held), "groups": len(ow),
                 "build_s": round(time.perf_counter() - t, 1), "form_share": ow.form_share, "cuts": {}}
    m = match_groups(ow.words, [k.keyword for k in held], [k.alts for k in held], ow.splits)
    for n in CUTS:
        ok = (m >= 0) & (m < n)
        p = ow.prior[:n] / ow.prior[:n].sum()
        bits = -np.log2(p[m[ok]])
        out["cuts"][n] = {"recall": float(ok.mean()), "mean_bits": float(bits.mean()) if ok.any() else None}
    if not args.no_games:
        g, cut = open_world_guesser([k.keyword for k in train], args.candidates, ow=ow,
                                    eps=0.1 if args.answerer == "semantic" else 0.0)
        kws = held[:: args.every][: args.limit]
        mm = match_groups(cut.words, [k.keyword for k in kws], [k.alts for k in kws], cut.splits)
        if args.replay:
            out["games"] = replay(g, cut, kws, mm)
        else:
            t = time.perf_counter()
            res = bench(kws, g, answerer=args.answerer, progress=lambda i, n, r: i % 20 == 0 and log(f"{i}/{n}"))
            res.update({"recall": float((mm >= 0).mean()), "candidate_groups": len(cut), "entries": len(g.candidates),
                        "seconds": round(time.perf_counter() - t, 1), "mode": "environment"})
            res.pop("solve_rate_bound", None)
            out["games"] = res
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"open world: {len(held)} held-out keywords, list from {len(train)} others; {len(ow):,} groups "
          f"(form shares {', '.join(f'{k} {v:.3f}' for k, v in ow.form_share.items())})")
    print(f"{'groups':>8} {'recall':>7} {'mean bits':>9}")
    for n, r in out["cuts"].items():
        print(f"{n:>8,} {r['recall']:>7.3f} {r['mean_bits'] or float('nan'):>9.2f}")
    if "games" in out:
        r = out["games"]
        print(f"games ({args.answerer} answerer, {r['candidate_groups']:,} groups = {r['entries']:,} surface forms): "
              f"recall {r['recall']:.3f}, solved {r['solved']}/{r['games']} = {r['solve_rate']:.3f} "
              f"({r['solve_rate'] / r['recall']:.2f} x recall), mean rounds {r['mean_rounds']:.2f}, worst {r['worst_round']}, "
              f"reward {r['mean_reward']:.2f}, {r['seconds']:.0f} s ({r['mode']})"
              + (f"; per move {r['ms_per_move_mean']:.0f} ms mean, {r['ms_per_move_max']:.0f} ms max" if "ms_per_move_mean" in r else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
