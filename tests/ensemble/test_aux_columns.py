"""Blend, stack and advval on tables with a train-only auxiliary target and a Parquet list column.

The docs suggest an auxiliary target such as ``is_even`` (train only) and list columns are the first
signal format: neither may stop the commands that only need ids, targets and folds, and the numbers
must be those of the same workspace without the extra columns.
"""

from __future__ import annotations

import pytest

from medalist.cv.advval import adversarial_validation
from medalist.ensemble import blend, load_members, stack
from medalist.workspace.data import read_table
from tests.conftest import add_aux_and_list_columns


def test_blend_stack_and_advval_ignore_train_only_and_list_columns(ens_ws, caplog):
    before = {
        "blend": blend(ens_ws, ["a-001", "b-001"], "hill-climb", tracking=False).cv,
        "stack": stack(ens_ws, ["a-001", "b-001"], "logistic", tracking=False).cv,
        "stack_feat": stack(ens_ws, ["a-001", "b-001"], "lightgbm", with_features=True, tracking=False).cv,
        "advval": adversarial_validation(ens_ws, k=3, save=False).auc,
    }
    ws = add_aux_and_list_columns(ens_ws)
    assert "is_even" not in read_table(ws.test_path).columns  # the failure condition of the old code
    m = load_members(ws, ["a-001", "b-001"])
    assert m.data.features == [] and "is_even" not in m.data.train.columns and "sig" not in m.data.train.columns
    with caplog.at_level("INFO", logger="medalist"):
        after = {
            "blend": blend(ws, ["a-001", "b-001"], "hill-climb", tracking=False).cv,
            "stack": stack(ws, ["a-001", "b-001"], "logistic", tracking=False).cv,
            "stack_feat": stack(ws, ["a-001", "b-001"], "lightgbm", with_features=True, tracking=False).cv,
        }
        res = adversarial_validation(ws, k=3, save=False)
    after["advval"] = res.auc
    for k, v in before.items():
        assert after[k] == pytest.approx(v, abs=1e-12), k
    assert res.left_out == ["is_even", "sig"]
    assert "leave out is_even, sig" in caplog.text or "leaves out is_even, sig" in caplog.text
