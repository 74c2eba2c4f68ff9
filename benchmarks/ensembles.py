"""Blends and stacks vs the best single model: does the ensemble help, and does its nested CV tell the truth?

For each table (the same local competitions as ``vs_autogluon.py``: a hidden holdout, 5 shared folds)
medalist trains four members on the workspace's folds (LightGBM, XGBoost and CatBoost with ``medalist
auto``'s Kaggle defaults, and the workspace's linear starter config), then every blender
(``medalist blend --method``) and stacker (``medalist stack --meta``) combines them. Each row gives

* ``cv``: the run's OOF metric. For a blend with fitted weights and for every stack it is *nested*
  (weights / meta model fitted on the other folds, scored on the held-out one), so it is an honest
  estimate; ``in-sample`` is the weights' score on the rows they were fitted on (blends only);
* ``holdout``: the metric on the hidden holdout answers, predicted from the run's test predictions;
* ``Δ best``: holdout gain over the best single member on the holdout (positive = better, in the
  metric's direction).

* ``--check``: exit 1 if a hill-climb blend's nested CV is below the best member's CV on some table (the
  same check runs fast on the covid table in tests/ensemble/test_blend.py).

    python benchmarks/ensembles.py [--only covid] [--members lightgbm,xgboost,catboost,linear] [--json] [--check]

Prints one markdown table (stdout); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import log  # noqa: E402
from vs_autogluon import score, tables  # noqa: E402

MEMBERS = ("lightgbm", "xgboost", "catboost", "linear")


def train_members(ws, members: list[str], threads: int) -> list:
    from medalist.cv.runner import train
    from medalist.ensemble.auto import portfolio_config

    runs = []
    for m in members:
        cfg = ws.configs_dir / "linear.yaml" if m == "linear" else portfolio_config(ws, m, threads=threads)
        t0 = time.perf_counter()
        run = train(ws, cfg, [f"threads={threads}"] if m == "linear" else [], tracking=False)
        log(f"   member {m}: {run.id} cv {run.cv:.6f} ({time.perf_counter() - t0:.1f}s)")
        runs.append(run)
    return runs


def ensembles(ws, ids: list[str], threads: int):
    """(kind, method, run or the reason it does not apply) for every blender and stacker."""
    from medalist.core.errors import MedalistError
    from medalist.ensemble.blend import blend, list_blenders
    from medalist.ensemble.stack import META, stack

    for method in list_blenders():
        try:
            yield "blend", method, blend(ws, ids, method, tracking=False)
        except MedalistError as e:  # e.g. rank averaging of multiclass probabilities
            yield "blend", method, str(e).splitlines()[0]
    for meta in META.names():
        try:
            yield "stack", meta, stack(ws, ids, meta, threads=threads, tracking=False)
        except MedalistError as e:  # e.g. a logistic meta model on a regression task
            yield "stack", meta, str(e).splitlines()[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=None, help="substring of a dataset name")
    ap.add_argument("--members", default=",".join(MEMBERS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--check", action="store_true", help="exit 1 if hill-climb's nested CV is below the best member's")
    a = ap.parse_args(argv)
    members = a.members.split(",")
    bad = [m for m in members if m not in MEMBERS]
    if bad or len(members) < 2:
        ap.error(f"--members: two or more of {', '.join(MEMBERS)}; got {a.members!r}")
    from medalist.metrics.registry import get_metric

    rows: list[dict] = []
    for ds, ws, classes in tables(a.only, "ensembles-"):
        higher = get_metric(ws.competition.metric).greater_is_better

        def hold(run) -> float:
            test = run.test()
            if ws.competition.task == "binary":
                test = test.select(ws.competition.id, "pred")
            return score(ws, test, classes)

        singles = []
        for m, run in zip(members, train_members(ws, members, a.threads)):
            singles.append({"dataset": ds["name"], "metric": ds["metric"], "kind": "member", "method": m, "run": run.id,
                            "cv": run.cv, "in_sample": None, "holdout": hold(run), "seconds": run.record.seconds})
        rows += singles
        best = (max if higher else min)(s["holdout"] for s in singles)
        best_cv = (max if higher else min)(s["cv"] for s in singles)
        for s in singles:
            s["delta_best"] = (s["holdout"] - best) * (1 if higher else -1)
        for kind, method, run in ensembles(ws, [s["run"] for s in singles], a.threads):
            if isinstance(run, str):
                rows.append({"dataset": ds["name"], "metric": ds["metric"], "kind": kind, "method": method, "run": None,
                             "skipped": run})
                continue
            h = hold(run)
            rows.append({"dataset": ds["name"], "metric": ds["metric"], "kind": kind, "method": method, "run": run.id,
                         "cv": run.cv, "in_sample": run.metrics.get("in_sample"), "holdout": h,
                         "delta_best": (h - best) * (1 if higher else -1),
                         "cv_gain": (run.cv - best_cv) * (1 if higher else -1), "seconds": run.record.seconds})
            log(f"   {kind} {method}: cv {run.cv:.6f} holdout {h:.6f}")
    below = [r for r in rows if r.get("method") == "hill-climb" and r.get("cv_gain") is not None and r["cv_gain"] < -1e-12]
    for r in below:
        log(f"!! {r['dataset']}: hill-climb nested CV {r['cv']:.6f} is below the best member's ({r['cv_gain']:+.6f})")
    code = 1 if a.check and below else 0
    if a.json:
        print(json.dumps({"rows": rows, "hill_climb_below_best": [r["dataset"] for r in below]}))
        return code
    print("| table | metric | kind | method | CV (nested for fitted blends, stacks) | in-sample | holdout | Δ best single (holdout) | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r.get("skipped"):
            print(f"| {r['dataset']} | {r['metric']} | {r['kind']} | {r['method']} | n/a: {r['skipped'][:80]} | | | | |")
            continue
        ins = "" if r["in_sample"] is None else f"{r['in_sample']:.5f}"
        sec = "" if r.get("seconds") is None else f"{r['seconds']:.1f}"
        print(f"| {r['dataset']} | {r['metric']} | {r['kind']} | {r['method']} | {r['cv']:.5f} | {ins} | {r['holdout']:.5f} "
              f"| {r['delta_best']:+.5f} | {sec} |")
    return code


if __name__ == "__main__":
    sys.exit(main())
