"""``build_folds``: the workspace's folds.parquet, made once from medalist.yaml's ``folds:`` settings."""

from __future__ import annotations

import polars as pl

from medalist.core.errors import FoldsError
from medalist.workspace.folds.make import make_folds
from medalist.workspace.folds.saved import Folds
from medalist.workspace.folds.schemes import GROUP_SCHEMES

__all__ = ["build_folds"]


def build_folds(ws, *, scheme: str | None = None, k: int | None = None, group: str | None = None,
                time: str | None = None, gap: int | str | None = None, repeats: int | None = None,
                seed: int | None = None, force: bool = False) -> tuple[Folds, pl.DataFrame]:
    """Make the workspace's folds.parquet (once) from medalist.yaml's ``folds:`` defaults and overrides.

    Returns the folds and their per-fold summary. The settings used are written back to medalist.yaml.
    """
    from medalist.workspace.data import encode_target, read_table

    comp, fc = ws.competition, ws.config.folds
    path = ws.folds_path
    if path.exists() and not force:
        old = Folds.load(path)
        raise FoldsError(str(path), expected="folds written once and shared by every run",
                         found=f"existing folds (scheme {old.meta.get('scheme')}, hash {old.hash})",
                         fix="keep them, or pass --force to rebuild (runs on the old folds can then not be blended with new ones)")
    settings = fc.model_copy(update={k_: v for k_, v in dict(scheme=scheme, k=k, group=group, time=time, gap=gap,
                                                                repeats=repeats, seed=seed).items() if v is not None})
    group_col = settings.group or (comp.group if settings.scheme in GROUP_SCHEMES else None)
    time_col = settings.time or (comp.time if settings.scheme == "time" else None)
    if settings.scheme is None:
        settings.scheme = "stratified" if comp.task in ("binary", "multiclass", "distribution") else "multilabel" if comp.task == "multilabel" else "kfold"
    train = read_table(ws.train_path, what="train")
    train, classes = encode_target(train, comp, comp.data.train)
    folds = make_folds(train, id_col=comp.id, target=comp.targets, task=comp.task, scheme=settings.scheme,
                       k=settings.k, group=group_col, time=time_col, gap=settings.gap,
                       repeats=settings.repeats, seed=settings.seed)
    folds.save(path)
    settings.group, settings.time = group_col, time_col
    ws.config.folds = settings
    ws.save_config()
    return folds, folds.summary(train, classes=classes if comp.task == "multiclass" else None)
