"""Ensembles of finished runs: blends (mean, rank, power, weighted, hill-climb) and stacks (meta models).

Blends and stacks are written as runs like any other, so they can be shown, submitted, compared,
used as ``oof_feature`` and combined again.
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
from medalist.ensemble.stack import (
    META,
    StackResult,
    select_members,
    stack,
    stack_members,
)

__all__ = [
    "BLENDERS", "META", "BlendResult", "Members", "StackResult", "blend", "blend_members", "fit_weights",
    "hill_climb", "list_blenders", "load_members", "select_members", "stack", "stack_members",
]
