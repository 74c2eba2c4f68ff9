"""The inputs of an image fit: soft targets, aux-head values, pseudo-labelled rows, the train and
validation datasets, the negative-downsampling sampler and the DataLoaders."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import ConfigError, DataError, did_you_mean
from medalist.models.protocol import FitContext

__all__ = ["soft_targets", "available_cpus", "worker_count", "sample_weights", "aux_classes", "aux_values", "aux_widths", "make_loader", "FitData",
           "build_fit_data", "tab_stats", "tab_values"]

log = logging.getLogger("medalist.vision")


def soft_targets(y: np.ndarray, task: str, n_classes: int | None) -> np.ndarray:
    """Targets as float rows: binary (n, 1), multiclass one-hot (n, K), multilabel (n, L), regression (n, D),
    distribution (n, K) as given (``ctx.y`` has already made the votes row fractions): soft labels.

    >>> soft_targets(np.array([0, 2]), "multiclass", 3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    y = np.asarray(y)
    if task == "multiclass":
        return np.eye(int(n_classes), dtype=np.float32)[y.astype(np.int64)]  # type: ignore[arg-type]
    y = y.astype(np.float32)
    return y[:, None] if y.ndim == 1 else y


def sample_weights(ctx: FitContext, frame: pl.DataFrame, what: str) -> np.ndarray | None:
    """The experiment's ``weight:`` column of ``frame`` as float32 (n,), checked; None without one.

    A weight is a per-sample factor of the loss (each batch's loss is the weighted mean of its rows),
    as GBDTs use it: soft confidence of a label (ISIC), down-weighting noisy rows, 0 to ignore a row.
    """
    if ctx.weight is None:
        return None
    if ctx.weight not in frame.columns:
        raise DataError(f"{what}: weight column '{ctx.weight}'", expected="a column of the rows",
                        found=f"no such column{did_you_mean(ctx.weight, frame.columns)}", fix="check weight: in the experiment")
    w = ctx.w(frame)
    bad = ~np.isfinite(w) | (w < 0)  # type: ignore[operator]
    if bad.any() or (len(w) and not (w > 0).any()):  # type: ignore[arg-type, operator]
        raise DataError(f"{what}: weight column '{ctx.weight}'", expected="finite weights >= 0, not all 0",
                        found=f"{int(bad.sum())} negative/NaN/inf of {len(w)}" if bad.any() else "every weight 0",  # type: ignore[arg-type]
                        fix="fill or clip the weights")
    return w.astype(np.float32)  # type: ignore[union-attr]


def aux_classes(p: Any, frame: pl.DataFrame) -> dict[str, list[str]]:
    """Class lists of the string/categorical aux columns (sorted values seen in ``frame``).

    A ``ce`` head gets one class per value; a ``bce`` head a two-value column (the second sorted value
    is 1). A string column under ``mse``/``l1``, or under ``bce`` with more than two values, is a
    :class:`ConfigError` naming the column, its dtype and the fix. Numeric columns are used as they are.
    """
    out: dict[str, list[str]] = {}
    for spec in p.aux or []:
        if spec.col not in frame.columns:
            continue  # aux_values reports it
        dt = frame.schema[spec.col]
        if dt.is_numeric() or dt == pl.Boolean:
            continue
        where = f"model.params.aux '{spec.col}'"
        if not (dt == pl.String or isinstance(dt, (pl.Categorical, pl.Enum))):
            raise ConfigError(where, expected="a numeric, boolean, string or categorical column", found=f"dtype {dt}",
                              fix=f"cast '{spec.col}' to numbers or strings in a feature block")
        values = sorted(str(v) for v in frame.get_column(spec.col).cast(pl.String).drop_nulls().unique().to_list())
        if spec.loss in ("mse", "l1") or (spec.loss == "bce" and len(values) > 2):
            raise ConfigError(where, expected=f"numbers for loss '{spec.loss}'" if spec.loss != "bce" else "at most two values for loss 'bce'",
                              found=f"dtype {dt} with {len(values)} values (e.g. {values[:3]})",
                              fix=f"use loss: ce for a class per value, or cast '{spec.col}' to numbers")
        if spec.n_classes is not None and len(values) > spec.n_classes:
            raise ConfigError(where, expected=f"at most n_classes={spec.n_classes} values", found=f"{len(values)} values",
                              fix="raise n_classes or drop it (the values seen count)")
        out[spec.col] = values
    return out


def aux_values(p: Any, frame: pl.DataFrame, what: str, classes: dict[str, list[str]] | None = None) -> np.ndarray | None:
    """The aux-head target columns of ``frame`` as float32 (n, A), NaN where missing; None: no aux heads.

    A column in ``classes`` (from :func:`aux_classes` at fit time, kept with the model) becomes the
    index of its value; a value not in the list, or null, is NaN, so the head's loss masks it.
    """
    if not p.aux:
        return None
    classes = classes or {}
    cols = []
    for spec in p.aux:
        if spec.col not in frame.columns:
            raise DataError(f"{what}: aux column '{spec.col}'", expected="a column of the training rows",
                            found=f"no such column{did_you_mean(spec.col, frame.columns)}",
                            fix="list it under columns.keep in the experiment config (test may lack it)")
        col = frame.get_column(spec.col)
        if spec.col in classes:
            index = {v: float(i) for i, v in enumerate(classes[spec.col])}
            vals = [index.get(v, float("nan")) if v is not None else float("nan") for v in col.cast(pl.String).to_list()]
            cols.append(np.asarray(vals, dtype=np.float32))
            continue
        dt = col.dtype
        if not (dt.is_numeric() or dt == pl.Boolean):
            raise ConfigError(f"model.params.aux '{spec.col}'", expected="a numeric column, or classes fitted for it",
                              found=f"dtype {dt} ({what})", fix="fit the model on rows with this column (string values are encoded then)")
        cols.append(col.cast(pl.Float32).fill_null(float("nan")).to_numpy())
    return np.stack(cols, axis=1).astype(np.float32)


def aux_widths(p: Any, aux: np.ndarray | None, classes: dict[str, list[str]] | None = None) -> list[int]:
    """Output width of each aux head: its class count for ``ce`` (declared, or the string values, or
    the largest code seen + 1), else 1."""
    out = []
    classes = classes or {}
    for j, spec in enumerate(p.aux):
        seen = len(classes[spec.col]) if spec.col in classes else None
        if spec.loss == "ce" and seen is None:
            seen = int(np.nanmax(aux[:, j])) + 1 if np.isfinite(aux[:, j]).any() else 1  # type: ignore[index]
        k = spec.n_classes or seen or 1
        out.append(int(k) if spec.loss == "ce" else 1)
    return out


_CAPPED: set[tuple[int, int]] = set()  # (asked, used) pairs already reported: one info line per process


def available_cpus() -> int:
    """CPUs this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` where that is missing)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # macOS, Windows
        return max(os.cpu_count() or 1, 1)


def worker_count(asked: int, *, quiet: bool = False) -> int:
    """``asked`` DataLoader workers capped to the available CPUs, with one info line the first time.

    More workers than CPUs only compete for them (and PyTorch warns once per loader, dozens of times
    in a CV run), so ``workers: 4`` on 2 CPUs runs 2.
    """
    cpus = available_cpus()
    used = min(asked, cpus)
    if used < asked and not quiet and (asked, used) not in _CAPPED:
        _CAPPED.add((asked, used))
        log.info("workers: %d asked, %d CPUs available to this process: using %d", asked, cpus, used)
    return used


def _tab_matrix(p: Any, frame: pl.DataFrame, what: str) -> np.ndarray:
    for c in p.tabular:
        if c not in frame.columns:
            raise DataError(f"{what}: tabular column '{c}' (model.params.tabular)", expected="a feature column of the rows",
                            found=f"no such column{did_you_mean(c, frame.columns)}",
                            fix="name feature columns (not columns.keep/drop ones); test needs them too")
        dt = frame.schema[c]
        if not (dt.is_numeric() or dt == pl.Boolean):
            raise ConfigError(f"model.params.tabular '{c}'", expected="a numeric, boolean or category-coded feature",
                              found=f"dtype {dt} ({what})", fix="list it as a feature (string features become codes) or cast it")
    return frame.select(pl.col(p.tabular).cast(pl.Float64)).to_numpy().astype(np.float64)


def tab_stats(p: Any, frame: pl.DataFrame) -> tuple[list[float], list[float]]:
    """Mean and std (1 where constant) of each ``model.params.tabular`` column over the training rows."""
    x = _tab_matrix(p, frame, "training rows")
    with np.errstate(invalid="ignore"):
        mean = np.nan_to_num(np.nanmean(x, axis=0)) if len(x) else np.zeros(x.shape[1])
        std = np.nan_to_num(np.nanstd(x, axis=0)) if len(x) else np.ones(x.shape[1])
    return mean.tolist(), np.where(std > 0, std, 1.0).tolist()


def tab_values(p: Any, frame: pl.DataFrame, stats: tuple[list[float], list[float]] | None, what: str) -> np.ndarray | None:
    """The standardised ``model.params.tabular`` columns of ``frame`` as float32 (n, T), missing -> 0 (the
    training mean); None without tabular columns."""
    if not p.tabular or stats is None:
        return None
    x = (_tab_matrix(p, frame, what) - np.asarray(stats[0])) / np.asarray(stats[1])
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def make_loader(p: Any, dataset: Any, *, train: bool, sampler: Any = None, seed: int = 0) -> Any:
    """A DataLoader with ``p``'s batch size and workers (at most the available CPUs); training ones
    shuffle (seeded) or use ``sampler``."""
    import torch

    workers = worker_count(p.workers)
    kw: dict[str, Any] = {"batch_size": p.batch_size, "num_workers": workers,
                          "pin_memory": torch.cuda.is_available(), "persistent_workers": workers > 0}
    if train:
        kw["drop_last"] = len(sampler if sampler is not None else dataset) > p.batch_size
        if sampler is not None:
            kw["sampler"] = sampler
        else:
            kw["shuffle"] = True
            kw["generator"] = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(dataset, **kw)


@dataclass
class FitData:
    """Everything a fit reads: datasets, sampler, transforms and what the model records about them."""

    source: Any
    train_ds: Any
    valid_ds: Any
    valid_y: np.ndarray | None
    sampler: Any
    train_tf: Any
    valid_tf: Any
    aux_out: list[int]
    n_pseudo: int | None  # None: no pseudo-labels configured
    aux_classes: dict[str, list[str]] | None = None  # string aux columns: value list (index = class)
    tab_stats: tuple[list[float], list[float]] | None = None  # model.params.tabular: training mean and std

    def describe(self, stage: str, i: int) -> str:
        """The image behind row ``i`` of the train or validation dataset, for messages."""
        ds = self.train_ds if stage == "train" else self.valid_ds
        return self.source.describe(ds.refs[i])


def build_fit_data(p: Any, train: pl.DataFrame, valid: pl.DataFrame | None, ctx: FitContext, n_classes: int | None) -> FitData:
    """Datasets of ``train`` (plus pseudo-labelled test rows) and ``valid``, failing early on a bad first image."""
    from medalist.vision.augment import build_pipeline
    from medalist.vision.data import ImageDataset, ImageSource

    task = ctx.task
    size = p.size()
    source = ImageSource(p.images, p.in_chans)
    train_tf = build_pipeline(p.augment, size)
    valid_tf = build_pipeline(p.valid_augment, size, where="model.params.valid_augment")
    refs = source.refs(train, "training rows")
    y = soft_targets(ctx.y(train), task, n_classes)
    classes = aux_classes(p, train)
    aux = aux_values(p, train, "training rows", classes)
    aux_out = aux_widths(p, aux, classes)
    weights = sample_weights(ctx, train, "training rows")
    stats = tab_stats(p, train) if p.tabular else None
    tab = tab_values(p, train, stats, "training rows")
    n_pseudo = None
    if p.pseudo_label is not None and p.tabular:
        raise ConfigError("model.params.pseudo_label", expected="no tabular columns with pseudo-labels",
                          found=f"tabular: {p.tabular}", fix="drop one of them (pseudo-labelled test rows carry no tabular values here)")
    if p.pseudo_label is not None:
        n_before = len(refs)
        refs, y, aux, n_pseudo = _add_pseudo_labels(p, task, source, refs, y, aux)
        if weights is not None:  # pseudo-labelled rows count once each
            weights = np.concatenate([weights, np.ones(len(refs) - n_before, np.float32)])
    _check_first_image(p, source, refs)
    sampler = _sampler(p, task, y, ctx.seed)
    train_ds = ImageDataset(source, refs, y, aux, train_tf, size, weights, tab)
    valid_ds = valid_y = None
    if valid is not None and valid.height:
        valid_refs = source.refs(valid, "validation rows")
        valid_ds = ImageDataset(source, valid_refs, soft_targets(ctx.y(valid), task, n_classes),
                                aux_values(p, valid, "validation rows", classes), valid_tf, size,
                                sample_weights(ctx, valid, "validation rows"), tab_values(p, valid, stats, "validation rows"))
        valid_y = ctx.y(valid)
    return FitData(source, train_ds, valid_ds, valid_y, sampler, train_tf, valid_tf, aux_out, n_pseudo, classes, stats)


def _add_pseudo_labels(p: Any, task: str, source: Any, refs: list, y: np.ndarray,
                       aux: np.ndarray | None) -> tuple[list, np.ndarray, np.ndarray | None, int]:
    """Training refs, targets and aux values extended with the pseudo-labelled test rows (aux: NaN)."""
    from medalist.vision.pseudo import load_pseudo_labels

    rows, pt = load_pseudo_labels(p.pseudo_label, task, source.columns())
    if len(rows):
        refs = refs + source.refs(rows, f"pseudo-labelled test rows of run '{p.pseudo_label.run}'")
        y = np.concatenate([y, pt.reshape(len(pt), -1)])
        if aux is not None:
            aux = np.concatenate([aux, np.full((len(pt), aux.shape[1]), np.nan, np.float32)])
    log.info("pseudo-labels: %d test rows from run %s", len(rows), p.pseudo_label.run)
    return refs, y, aux, len(rows)


def _check_first_image(p: Any, source: Any, refs: list) -> None:
    """Fail before training when even the first image is unusable (wrong channel count, bad bytes)."""
    from medalist.vision.data import BadImage

    try:
        first = source.read(refs[0])
    except BadImage as e:
        raise DataError(f"image {source.describe(refs[0])}", expected=f"a readable image with {p.in_chans} channel(s)",
                        found=str(e), fix="check the image files and model.params.in_chans") from None
    log.debug("first image %s", first.shape)


def _sampler(p: Any, task: str, y: np.ndarray, seed: int) -> Any:
    """The negative downsampler of a binary task when ``sampler.neg_pos_ratio`` is set; else None."""
    from medalist.vision.data import NegativeDownsampler

    if p.sampler is None or p.sampler.neg_pos_ratio is None:
        return None
    if task != "binary":
        raise ConfigError("model.params.sampler", expected="a binary task for negative downsampling",
                          found=f"task '{task}'", fix="remove sampler")
    return NegativeDownsampler(y[:, 0], p.sampler.neg_pos_ratio, seed=seed)
