from __future__ import annotations

import math

import polars as pl
import pytest

from medalist.core.errors import ConfigError
from medalist.metrics.registry import get_metric
from medalist.recsys import ndcg_at_k, recall_at_k, score_recommendations


def test_recall_and_ndcg_hand_computed():
    assert recall_at_k([[1, 2, 3]], [[3, 9, 1]], k=2) == pytest.approx(1 / 3)
    assert recall_at_k([[1, 2, 3]], [[3, 9, 1]], k=3) == pytest.approx(2 / 3)
    # hits at positions 1 and 3 of 3 relevant: (1 + 1/log2(4)) / (1 + 1/log2(3) + 1/log2(4))
    want = (1 + 0.5) / (1 + 1 / math.log2(3) + 0.5)
    assert ndcg_at_k([[1, 2, 3]], [[3, 9, 1]], k=3) == pytest.approx(want)
    assert ndcg_at_k([[1]], [[1]], k=5) == 1.0 and ndcg_at_k([[]], [[1]], k=5) == 0.0
    # duplicates in a prediction never count twice
    assert recall_at_k([[1, 2]], [[1, 1, 1]], k=3) == 0.5


def test_registered_under_metric_names():
    assert get_metric("ndcg@3")([[1, 2, 3]], [[3, 9, 1]]) == pytest.approx(ndcg_at_k([[1, 2, 3]], [[3, 9, 1]], k=3))
    assert get_metric("recall@2").name == "recall@2"
    with pytest.raises(ConfigError, match="positive integer"):
        recall_at_k([[1]], [[1]], k=0)


def test_score_recommendations_counts_users_without_recs_as_zero():
    truth = pl.DataFrame({"user": [1, 2], "items": [[10], [20]]})
    recs = pl.DataFrame({"user": [1, 1], "rank": [1, 2], "item": [10, 11]})
    s = score_recommendations(recs, truth, 2)
    assert s == {"map@2": 0.5, "ndcg@2": 0.5, "recall@2": 0.5}
