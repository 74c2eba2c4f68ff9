"""Ranking metrics for recommendations: recall@k, NDCG@k (registered), MAP@k (medalist's map@k).

``y_true[i]`` is row i's relevant items, ``y_pred[i]`` its ranked list, best first — the same
convention as :func:`medalist.metrics.map_at_k`, so all three score one recommendation table.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from medalist.core.errors import ConfigError
from medalist.metrics.registry import METRICS, register_metric
from medalist.metrics.scores import _items, map_at_k

__all__ = ["recall_at_k", "ndcg_at_k", "score_recommendations"]


def _check(name: str, y_true, y_pred, k) -> None:
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"metric '{name}' parameter 'k'", expected="a positive integer", found=repr(k))
    if len(y_true) != len(y_pred):
        raise ConfigError(f"metric '{name}'", expected="y_true and y_pred with one row per user",
                          found=f"{len(y_true)} and {len(y_pred)} rows")


def _dedupe(row) -> list:
    seen: set = set()
    return [x for x in _items(row) if not (x in seen or seen.add(x))]


def recall_at_k(y_true, y_pred, sample_weight=None, k=10):
    """Share of each row's relevant items found in its first ``k`` predictions, averaged.

    With ``k`` = the candidate count this is the candidate stage's ceiling: no re-ranker can find
    an item its candidates missed. Rows with no relevant items score 0.

    >>> recall_at_k([[1, 2], [3]], [[1, 9, 2], [9, 8]], k=2)
    0.25
    """
    _check("recall@k", y_true, y_pred, k)
    scores = []
    for a, p in zip(y_true, y_pred, strict=True):
        actual = set(_items(a))
        scores.append(len(actual & set(_dedupe(p)[:k])) / len(actual) if actual else 0.0)
    return float(np.average(scores, weights=sample_weight)) if scores else 0.0


def ndcg_at_k(y_true, y_pred, sample_weight=None, k=10):
    """Binary-relevance NDCG@k: DCG of the hits over the DCG of a perfect list of ``min(|true|, k)`` hits.

    >>> round(ndcg_at_k([[1, 2]], [[9, 1, 2]], k=3), 6)
    0.693426
    """
    _check("ndcg@k", y_true, y_pred, k)
    scores = []
    for a, p in zip(y_true, y_pred, strict=True):
        actual = set(_items(a))
        if not actual:
            scores.append(0.0)
            continue
        dcg = sum(1.0 / math.log2(i + 2) for i, x in enumerate(_dedupe(p)[:k]) if x in actual)
        idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(actual), k)))
        scores.append(dcg / idcg)
    return float(np.average(scores, weights=sample_weight)) if scores else 0.0


# Registered beside map@k so a config can name them ("ndcg@10"); overwrite=False warns on a clash.
for _name, _fn in (("recall@k", recall_at_k), ("ndcg@k", ndcg_at_k)):
    if not METRICS.loaded(_name):  # a lazy declaration is not a clash
        register_metric(_name, direction="maximize", needs="label")(_fn)


def score_recommendations(recs: pl.DataFrame, truth: pl.DataFrame, k: int, *, prefix: str = "") -> dict[str, float]:
    """MAP@k, NDCG@k and recall@k of ``recs`` (user, rank, item) against ``truth`` (user, items).

    Every truth user counts; a user without recommendations (empty candidate set) scores 0.
    """
    lists = recs.sort(["user", "rank"]).group_by("user").agg(pl.col("item").alias("pred"))
    joined = truth.join(lists, on="user", how="left")
    y_true = joined["items"].to_list()
    y_pred = [p if p is not None else [] for p in joined["pred"].to_list()]
    return {
        f"{prefix}map@{k}": map_at_k(y_true, y_pred, k=k) if y_true else 0.0,
        f"{prefix}ndcg@{k}": ndcg_at_k(y_true, y_pred, k=k),
        f"{prefix}recall@{k}": recall_at_k(y_true, y_pred, k=k),
    }
