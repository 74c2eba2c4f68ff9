"""In-fold target statistics of a ``task: distribution``: one average per class of the rows' vote fractions."""

import polars as pl

from medalist.features.infold import target_matrix
from medalist.features.base import FeatureContext


def test_target_matrix_is_the_vote_fractions():
    ctx = FeatureContext(target=["a", "b"], task="distribution", classes=["a", "b"])
    suffixes, y = target_matrix(pl.DataFrame({"a": [3.0, 0.0], "b": [1.0, 2.0]}), ctx)
    assert suffixes == ["_a", "_b"] and y.tolist() == [[0.75, 0.25], [0.0, 1.0]]
