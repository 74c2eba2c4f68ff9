"""Local recommender competitions and their submissions.

``init_recsys_competition`` turns an interaction table into a Kaggle-like recommender competition
(H&M / OTTO style): the events of the last ``test_days`` are the hidden answer key
(``.medalist/answers.parquet``: user, the items they interacted with, space-separated, and a
Public/Private usage per user); ``data/train.csv`` holds the events before, ``data/test.csv`` the
users to recommend for, ``data/sample_submission.csv`` one row per user with ``k`` popular items.
The metric is MAP@k over the ranked lists, so ``medalist submit --local`` scores a submission on the
public and private users like any other local competition.

``write_predictions`` turns a recsys run's ``recommendations.parquet`` into that submission
(``medalist recsys predict RUN``): one row per test user, items space-separated best first, in the
sample submission's order; cold or short lists are topped up with popular items.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import yaml

from medalist.core.errors import ConfigError, DataError
from medalist.core.io import atomic_write, atomic_write_parquet, atomic_write_text
from medalist.recsys.interactions import Interactions, check_split_order, normalize_interactions, read_table

__all__ = ["init_recsys_competition", "write_predictions"]

_DAY = 86400.0
ITEMS = "items"


def init_recsys_competition(root: Path, source: str, *, user: str, item: str, time: str, weight: str | None = None,
                            test_days: float = 7.0, public: float = 0.3, k: int = 12, name: str | None = None,
                            seed: int = 42, force: bool = False):
    """Make a local recommender competition from an interaction table; return its Workspace."""
    from medalist.core.config import CompetitionConfig, DataPaths, WorkspaceConfig
    from medalist.workspace.competition import _check_new_dir, _write_skeleton
    from medalist.workspace.formats import SubmissionFormat

    root = Path(root)
    _check_new_dir(root, force)
    if not test_days > 0:
        raise ConfigError("--test-days", expected="a positive number of days", found=str(test_days))
    if not 0.0 < public < 1.0:
        raise ConfigError("--public", expected="a fraction in (0, 1)", found=str(public))
    raw = read_table(source, what="--from-table")
    events = normalize_interactions(raw, Interactions(user, item, time, weight), where=source)
    n_items = events["item"].n_unique()
    if not isinstance(k, int) or k < 1 or k > n_items:
        raise ConfigError("--k", expected=f"a positive integer at most the catalogue size ({n_items} items)", found=str(k))
    cut = float(events["time"].max()) - test_days * _DAY
    is_test = (events["time"] > cut).to_numpy()
    train_ev, test_ev = events.filter(pl.Series(~is_test)), events.filter(pl.Series(is_test))
    if train_ev.height == 0 or test_ev.height == 0:
        raise DataError(f"{source}: time split at {test_days} days before the end", expected="events on both sides",
                        found=f"{train_ev.height} train and {test_ev.height} test events", fix="change --test-days")
    check_split_order(train_ev, test_ev, where=source)
    answers = (test_ev.sort(["user", "time"]).group_by("user", maintain_order=True)
               .agg(pl.col("item").unique(maintain_order=True).cast(pl.String).str.join(" ").alias(ITEMS)))
    rng = np.random.default_rng(seed)
    answers = answers.with_columns(pl.Series("usage", np.where(rng.random(answers.height) < public, "Public", "Private")))
    answers = answers.rename({"user": user})
    popular = (train_ev.group_by("item").agg(pl.col("user").n_unique().alias("n")).sort(["n", "item"], descending=[True, False])
               .head(k)["item"].cast(pl.String).to_list())
    sample = answers.select(user, pl.lit(" ".join(popular)).alias(ITEMS))
    train = raw.filter(pl.Series(~is_test))
    test = answers.select(user)

    root.mkdir(parents=True, exist_ok=True)
    data = DataPaths()
    (root / "data").mkdir(exist_ok=True)
    for frame, rel in ((train, data.train), (test, data.test), (sample, data.sample_submission)):
        atomic_write(root / rel, lambda p, f=frame: f.write_csv(p))
    (root / ".medalist").mkdir(exist_ok=True)
    atomic_write_parquet(root / ".medalist" / "answers.parquet", answers)
    comp = CompetitionConfig(name=name or root.resolve().name, task="multiclass", metric=f"map@{k}", id=user, target=ITEMS,
                             time=time, data=data, answers=".medalist/answers.parquet")
    fmt = SubmissionFormat("ranked", [ITEMS], k=k)
    from medalist.workspace.competition import _submission_config

    cfg = WorkspaceConfig(competition=comp, submission=_submission_config(fmt))
    ws = _write_skeleton(root, cfg, "multiclass")
    starter = {"name": "recsys", "note": "two-stage recommender: candidates -> LightGBM ranker",
               "data": {"source": data.train, "user": user, "item": item, "time": time, "weight": weight},
               "split": {"holdout": 5, "min_train": 5}, "k": k,
               "candidates": [{"name": "popular", "k": 50}, {"name": "recent", "k": 50, "window_days": test_days},
                              {"name": "covisit", "k": 50}],
               "ranker": {"objective": "lambdarank", "num_boost_round": 200, "early_stopping_rounds": 20}}
    rate = repeat_rate(train_ev)
    if rate >= REPEATS:  # users come back to their items (flights, groceries): recommend them again
        starter["note"] += f"; {rate:.0%} of train events repeat an item the user had: seen items are candidates"
        starter["exclude_seen"] = False
        starter["candidates"].insert(0, {"name": "history", "k": 50, "recency_days": 2 * test_days})
    atomic_write_text(root / "configs" / "recsys.yaml", yaml.safe_dump(starter, sort_keys=False))
    return ws


REPEATS = 0.3  # a repeat rate from this up makes the starter keep seen items (MovieLens 0, nycflights13 0.87)


def repeat_rate(events: pl.DataFrame) -> float:
    """Share of events whose item the same user had in an earlier event (0 when each user meets an item once).

    >>> repeat_rate(pl.DataFrame({"user": [1, 1, 1, 2], "item": [5, 5, 6, 5], "time": [0.0, 1.0, 2.0, 0.0]}))
    0.25
    """
    if events.height == 0:
        return 0.0
    first = events.sort(["user", "time"]).select(pl.struct("user", "item").is_first_distinct()).to_series()
    return float(1.0 - first.mean())


def write_predictions(ws, run, out: Path | None = None) -> tuple[Path, pl.DataFrame]:
    """The submission of a recsys run for the workspace's test users (sample submission order and format)."""
    from medalist.workspace.formats import workspace_format

    comp = ws.competition
    fmt = workspace_format(ws)
    if fmt.kind != "ranked":
        raise ConfigError("medalist.yaml: submission", expected="a ranked submission (space-separated items)",
                          found=f"format '{fmt.kind}'", fix="init the workspace with `medalist recsys init --from-table`")
    rec_path = run.path / "recommendations.parquet"
    if not rec_path.is_file():
        raise ConfigError(f"run '{run.id}'", expected="a recsys run with recommendations.parquet (refit_full: true)",
                          found="no recommendations.parquet", fix="rerun `medalist recsys CONFIG` with refit_full: true")
    k = fmt.k or 12
    sample = read_table(str(ws.sample_submission_path), what="sample submission")
    ids = sample.get_column(comp.id).cast(pl.String)
    recs = pl.read_parquet(rec_path)
    lists = (recs.filter(pl.col("rank") <= k).sort(["user", "rank"])
             .group_by(pl.col("user").cast(pl.String)).agg(pl.col("item").cast(pl.String).alias("l")))
    pop = recs.group_by(pl.col("item").cast(pl.String)).len().sort(["len", "item"], descending=[True, False])["item"].head(4 * k).to_list()
    got = dict(zip(lists["user"].to_list(), lists["l"].to_list(), strict=True))
    rows = []
    for u in ids.to_list():
        items = list(got.get(u) or [])
        if len(items) < k:  # cold or short: top up with the most recommended items, no repeats
            have = set(items)
            items += [x for x in pop if x not in have][: k - len(items)]
        rows.append(" ".join(items[:k]))
    sub = pl.DataFrame({comp.id: sample.get_column(comp.id), fmt.columns[0]: rows})
    out = Path(out) if out is not None else ws.submissions_dir / f"{run.id}-recs.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda p: sub.write_csv(p))
    return out, sub
