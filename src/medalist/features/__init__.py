"""Declarative Polars feature blocks, leak-safe by construction.

An experiment lists blocks under ``features:``, each ``{block: NAME, ...parameters}``::

    features:
      - {block: group_agg, columns: [age], by: [[clinic_name], [clinic_name, gender]], stats: [mean, std]}
      - {block: group_deviation, columns: [age], by: [[clinic_name]], how: [diff, z]}
      - {block: target_encode, columns: [clinic_name, [clinic_name, gender]], smoothing: 20}
      - {block: oof_feature, run: lgbm-003}

Static blocks (everything but ``target_encode``) run once on train and test stacked, with the target
removed, so they cannot leak it. ``target_encode`` runs inside each split from that split's train
rows only. ``oof_feature`` refuses runs made on other folds. Register new blocks with
:func:`register_block`.

>>> from medalist.features import FeaturePlan
>>> plan = FeaturePlan([{"block": "expr", "name": "double", "sql": "x * 2"}])
>>> plan.static(pl.DataFrame({"x": [1]}), pl.DataFrame({"x": [2]}))[1]["double"].to_list()
[4]
"""

from __future__ import annotations

import polars as pl  # noqa: F401  (used by the doctest above)

from medalist.features import blocks as _blocks  # noqa: F401  (registers the static blocks)
from medalist.features import infold as _infold  # noqa: F401  (registers target_encode)
from medalist.features.base import (
    FEATURES,
    Block,
    FeatureContext,
    Params,
    get_block,
    list_blocks,
    register_block,
    register_exprs,
)
from medalist.features.describe import describe_features, explain_features
from medalist.features.plan import (
    FeaturePlan,
    apply_static,
    build_plan,
    fold_labels,
)

__all__ = [
    "FEATURES", "Block", "FeatureContext", "Params", "register_block", "list_blocks", "get_block",
    "FeaturePlan", "build_plan", "apply_static", "describe_features", "explain_features", "fold_labels", "register_exprs",
]
