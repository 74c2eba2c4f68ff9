"""Ensembles of finished runs: blends (mean, rank, power, weighted, hill-climb) and stacks (meta models).

Blends and stacks are written as runs like any other, so they can be shown, submitted, compared,
used as ``oof_feature`` and combined again. Each saves under ``models/`` what
:func:`predict_ensemble` needs to re-apply it to new member test predictions (no pickle).
"""

from medalist.ensemble.blend import (
    BLENDERS,
    BlendResult,
    blend,
    blend_members,
    fit_weights,
    hill_climb,
    list_blenders,
)
from medalist.ensemble.members import Members, load_members
from medalist.ensemble.reapply import ensemble_inputs, predict_ensemble
from medalist.ensemble.stack import (
    META,
    Selection,
    StackResult,
    select_members,
    stack,
    stack_members,
)

__all__ = [
    "BLENDERS", "META", "BlendResult", "Members", "StackResult", "blend", "blend_members", "ensemble_inputs", "fit_weights",
    "hill_climb", "list_blenders", "load_members", "predict_ensemble", "Selection", "select_members", "stack", "stack_members",
]
