"""``task: distribution``: vote/probability columns per class, normalised per row, with clear errors."""

import numpy as np
import polars as pl
import pytest

from medalist.core.config import CompetitionConfig
from medalist.core.errors import DataError
from medalist.workspace.data import prepare
from medalist.workspace.folds.make import make_folds


def _frames(a, b):
    n = len(a)
    tr = pl.DataFrame({"id": range(n), "x": np.arange(n, dtype=float), "a": a, "b": b})
    return tr, pl.DataFrame({"id": range(3), "x": [0.0, 1.0, 2.0]})


COMP = dict(name="t", task="distribution", metric="kl", id="id", target=["a", "b"])


def test_votes_become_row_fractions_and_classes_are_the_columns():
    tr, te = _frames([3.0, 0.0, 1.0], [1.0, 2.0, 1.0])
    d = prepare(tr, te, CompetitionConfig(**COMP))
    assert d.classes == ["a", "b"] and d.n_classes == 2 and d.features == ["x"]
    np.testing.assert_allclose(d.y(), [[0.75, 0.25], [0.0, 1.0], [0.5, 0.5]])


@pytest.mark.parametrize("a, b, found", [
    ([1.0, 0.0], [1.0, 0.0], "1 rows summing to 0 (the first is row 2"),
    ([1.0, -2.0], [1.0, 3.0], "1 negative values (e.g. -2.0)"),
    (["x", "y"], [1.0, 3.0], "dtype String"),
])
def test_bad_votes_are_named(a, b, found):
    tr, te = _frames(a, b)
    with pytest.raises(DataError, match="target") as e:
        prepare(tr, te, CompetitionConfig(**COMP))
    assert found in str(e.value)


def test_a_single_target_column_is_refused():
    with pytest.raises(ValueError, match="at least 2 columns"):
        CompetitionConfig(**{**COMP, "target": "a"})


def test_folds_stratify_on_the_majority_class():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 9, 60).astype(float)
    tr, _ = _frames(a, 8.0 - a + 0.5)
    f = make_folds(tr, id_col="id", target=["a", "b"], task="distribution", scheme="stratified", k=3)
    major = (a > 8.0 - a + 0.5).astype(int)
    fold = f.table.filter(f.table["repeat"] == 0).sort("id")["fold"].to_numpy()
    per_fold = [major[fold == k].mean() for k in range(3)]
    assert f.n_splits == 3
    assert max(per_fold) - min(per_fold) < 0.06  # stratified: each fold has the same share (unstratified: ~0.2 apart)
