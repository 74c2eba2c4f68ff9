"""target_encode's one grouped pass per key set (categories x inner folds, every key set in one
parallel query) gives what the former two passes per column gave: exactly for class targets, to a
few ulps for a regression target (its all-rows sums are now sums of the per-fold sums)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from medalist.features.base import FeatureContext, as_keys, key_name
from medalist.features.infold import (
    TargetEncode,
    _inner_prior,
    _inner_share,
    _smooth,
    target_encode,
    target_matrix,
)


def two_pass(tr, va, p, ctx, inner):
    """The former implementation: per column, a group_by over all train rows and one per inner fold."""
    suffixes, y = target_matrix(tr, ctx)
    ycols = [f"__y{j}" for j in range(y.shape[1])]
    withy = tr.with_columns([pl.Series(c, y[:, j]) for j, c in enumerate(ycols)] + [pl.Series("__fold", inner)])
    stats = lambda by: withy.group_by(by).agg([pl.col(c).sum().alias(f"__s{j}") for j, c in enumerate(ycols)] + [pl.len().alias("__n")])
    look = lambda k, s, on: k.join(s, on=on, how="left", maintain_order="left", nulls_equal=True)
    outs = [{}, {}]
    for item in p.columns:
        by = as_keys(item)
        full = stats(by)
        got = look(va.select(by), full, by)
        n = got["__n"].fill_null(0).to_numpy().astype(float)
        for j, s in enumerate(suffixes):
            outs[1][f"te_{key_name(by)}{s}"] = _smooth(got[f"__s{j}"].fill_null(0).to_numpy(), n, p.smoothing, y[:, j].mean())
        fold = stats([*by, "__fold"]).rename({**{f"__s{j}": f"__f{j}" for j in range(len(ycols))}, "__n": "__fn"})
        got = look(look(withy.select(*by, "__fold"), full, by), fold, [*by, "__fold"])
        n = (got["__n"] - got["__fn"]).to_numpy().astype(float)
        for j, s in enumerate(suffixes):
            outs[0][f"te_{key_name(by)}{s}"] = _smooth((got[f"__s{j}"] - got[f"__f{j}"]).to_numpy(), n,
                                                       p.smoothing * _inner_share(inner), _inner_prior(y[:, j], inner))
    return pl.DataFrame(outs[0]), pl.DataFrame(outs[1])


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_one_pass_equals_the_former_two_passes(task):
    rng = np.random.default_rng(3)
    n = 20_000
    raw = rng.normal(size=n) * 3.7
    y = {"binary": (raw > 0.5).astype(np.int8), "multiclass": np.clip(np.abs(raw).astype(np.int64), 0, 3), "regression": raw}[task]
    a = pl.Series(rng.integers(0, 300, n))
    tr = pl.DataFrame({"a": a.set(a % 41 == 0, None), "b": rng.integers(0, 7, n).astype(np.int32), "y": y})
    va = pl.DataFrame({"a": rng.integers(0, 320, 3_000), "b": rng.integers(0, 8, 3_000).astype(np.int32)})
    inner = rng.integers(-1, 4, n)
    ctx = FeatureContext(target=["y"], task=task, classes=[0, 1, 2, 3] if task == "multiclass" else None)
    p = TargetEncode(columns=["a", "b", ["a", "b"]], smoothing=20)
    new_tr, new_va, _ = target_encode(tr, va, va, p, ctx, inner)
    old_tr, old_va = two_pass(tr, va, p, ctx, inner)
    assert new_tr.columns == old_tr.columns and new_tr.width == (12 if task == "multiclass" else 3)
    for new, old in ((new_tr, old_tr), (new_va, old_va)):
        if task == "regression":
            np.testing.assert_allclose(new.to_numpy(), old.to_numpy(), rtol=1e-12, atol=1e-14)
        else:
            assert new.equals(old)
