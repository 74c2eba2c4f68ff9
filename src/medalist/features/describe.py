"""``describe_features``: an experiment's features materialized on the workspace data, one summary
row per created column, with split gain from a run's importance when there is one."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from medalist.features.base import FEATURES
from medalist.features.plan import apply_static, build_plan, fold_labels

__all__ = ["describe_features", "explain_features"]


def describe_features(ws, config_path: Path, overrides: list[str] | None = None, *, run: str | None = None) -> pl.DataFrame:
    """Materialize an experiment's features on the workspace data; one summary row per new column.

    Static features are summarized over train+test; per-fold ones over train rows encoded out-of-fold
    with the saved folds (what a full-data refit trains on). ``gain`` (mean split gain over folds and
    seeds) and its rank come from ``run``'s importance; by default from the latest finished run of
    this config file, when there is one.

    >>> describe_features(Workspace.find(), Path("configs/fe.yaml"))  # fe.yaml: lgbm.yaml + an expr block
    shape: (1, 6)
    ┌────────────┬───────┬────────┬─────────┬─────────┬─────────┐
    │ name       ┆ block ┆ scope  ┆ dtype   ┆ nulls % ┆ mean    │
    │ ---        ┆ ---   ┆ ---    ┆ ---     ┆ ---     ┆ ---     │
    │ str        ┆ str   ┆ str    ┆ str     ┆ f64     ┆ f64     │
    ╞════════════╪═══════╪════════╪═════════╪═════════╪═════════╡
    │ area_ratio ┆ expr  ┆ static ┆ Float64 ┆ 0.0     ┆ 1.29903 │
    └────────────┴───────┴────────┴─────────┴─────────┴─────────┘
    """
    from medalist.core.config import load_experiment
    from medalist.workspace.data import load_competition_data
    from medalist.workspace.folds import Folds

    exp, _ = load_experiment(Path(config_path), overrides)
    data = load_competition_data(ws, exp.columns, weight=exp.weight)
    folds = Folds.load(ws.folds_path) if ws.folds_path.is_file() else None
    plan = build_plan(exp.features, data, source=str(config_path), ws=ws, folds_hash=folds.hash if folds else None)
    data = apply_static(plan, data)
    static_cols = [c for c in plan.columns if c in data.train.columns]
    values = {c: pl.concat([data.train.get_column(c), data.test.get_column(c)]) for c in static_cols}
    if plan.per_fold and folds is not None:
        labels = fold_labels(folds, data.train)
        tr, _, _, cols = plan.for_split(data.train, data.train.clear(), data.test, labels[min(labels)])
        values.update({c: tr.get_column(c) for c in cols})
    rows = []
    for c, s in values.items():
        block = plan.columns[c]
        nulls = s.null_count() + (int(s.is_nan().sum()) if s.dtype.is_float() else 0)
        num = s.cast(pl.Float64).fill_nan(None) if s.dtype.is_numeric() else None
        rows.append({"name": c, "block": block, "scope": "per-fold" if FEATURES.get(block).per_fold else "static",
                     "dtype": str(s.dtype), "nulls %": round(100.0 * nulls / max(len(s), 1), 2),
                     "mean": num.mean() if num is not None and num.null_count() < len(num) else None})
    out = pl.DataFrame(rows, schema={"name": pl.String, "block": pl.String, "scope": pl.String, "dtype": pl.String,
                                     "nulls %": pl.Float64, "mean": pl.Float64})
    imp = _run_importance(ws, Path(config_path), run)
    if imp is not None:
        out = out.join(imp, on="name", how="left", maintain_order="left")
    return out


def explain_features(ws, config_path: Path, overrides: list[str] | None = None) -> dict:
    """The static blocks of an experiment as Polars runs them: each fused query's optimized plan
    (``LazyFrame.explain()``) and, per block, whether it was read from the feature cache.

    Returns ``{"blocks": [{"index", "block", "scope", "cache", "query"}], "queries": [plan text]}``:
    ``cache`` is ``hit``, ``miss`` (computed and written) or ``off`` (not cacheable), ``query`` the
    number of the fused query that computed the block (None: its own function, or a cache hit). The
    static features are computed (through the cache) to get there.
    """
    from medalist.core.config import load_experiment
    from medalist.workspace.data import load_competition_data
    from medalist.workspace.folds import Folds

    exp, _ = load_experiment(Path(config_path), overrides)
    data = load_competition_data(ws, exp.columns, weight=exp.weight)
    folds = Folds.load(ws.folds_path) if ws.folds_path.is_file() else None
    plan = build_plan(exp.features, data, source=str(config_path), ws=ws, folds_hash=folds.hash if folds else None)
    plan.record_queries = True
    apply_static(plan, data)
    blocks = []
    for step in plan.steps:
        cache = "hit" if step.index in plan.cache_hits else "miss" if step.index in plan.cache_misses else "off"
        blocks.append({"index": step.index, "block": step.block.name, "scope": "per-fold" if step.block.per_fold else "static",
                       "cache": None if step.block.per_fold else cache, "query": plan.fused_in.get(step.index)})
    return {"blocks": blocks, "queries": list(plan.queries)}


def _run_importance(ws, config_path: Path, run: str | None) -> pl.DataFrame | None:
    """``name, gain, gain rank`` (rank among all the run's features) of ``run`` or of the config's latest run."""
    from medalist.runs.store import Run, list_runs

    if run is not None:
        r = Run.open(ws, run)
    else:
        want = {str(config_path), str(config_path.resolve())}
        done = [r for r in list_runs(ws) if r.status == "done" and (r.record.config in want
                or str((ws.root / str(r.record.config or "")).resolve()) in want)]
        if not done:
            return None
        r = done[-1]
    imp = r.importance()
    if imp is None:
        return None
    imp = imp.sort("gain", descending=True).with_row_index("gain rank", offset=1)
    return imp.select(pl.col("feature").alias("name"), pl.col("gain"), pl.col("gain rank").cast(pl.Int64),
                      pl.lit(r.id).alias("run"))
