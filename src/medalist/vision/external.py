"""External rows: labelled data from outside the competition's train file (an earlier year's images,
a public set, SETI's pre-reset data) used for training in every fold and never scored.

``external: {file: data/extra.csv}`` in ``model.params`` of ``timm_image`` or ``signal`` appends the
file's rows to the training rows of each fold and of the full-data fit — never to the validation rows,
so they are not in the OOF predictions and do not move the CV score except through the model they
helped train. The file has the target column(s) with the train file's labels and the columns the
model reads its inputs from (image or signal columns); other train columns missing from it (aux
targets) are null (masked). With the experiment's ``weight:`` column, external rows weigh ``weight``.
"""

from __future__ import annotations

import logging

import polars as pl

from medalist.core.errors import ConfigError, DataError, did_you_mean
from medalist.models.protocol import FitContext
from medalist.vision.config import ExternalConfig

__all__ = ["load_external", "with_external"]

log = logging.getLogger("medalist.vision")


def _encode_labels(frame: pl.DataFrame, ctx: FitContext, file: str) -> pl.DataFrame:
    """The target column of ``frame`` as the runner encodes train's: class codes 0..K-1 of the sorted
    train-file labels (binary/multiclass), floats (regression); other tasks as they are."""
    t = ctx.target[0]
    if ctx.task == "regression":
        return frame.with_columns(pl.col(t).cast(pl.Float64, strict=False))
    if ctx.task not in ("binary", "multiclass"):
        return frame
    from medalist.workspace.data import read_table
    from medalist.workspace.paths import Workspace

    ws = Workspace.find()
    train_t = read_table(ws.train_path, what="train", columns=[t]).get_column(t)
    classes = sorted(train_t.drop_nulls().unique().to_list())
    values = frame.get_column(t).cast(train_t.dtype, strict=False)
    unknown = sorted({str(v) for v in values.to_list() if v not in set(classes)})
    if unknown:
        raise DataError(f"{file}: target '{t}'", expected=f"labels of the train file ({', '.join(map(str, classes[:8]))})",
                        found=f"{len(unknown)} other value(s), e.g. {unknown[:3]}", fix="map or drop those rows")
    codes = {v: i for i, v in enumerate(classes)}
    return frame.with_columns(pl.Series(t, [codes[v] for v in values.to_list()], dtype=pl.Int32))


def load_external(cfg: ExternalConfig, ctx: FitContext, need: list[str]) -> pl.DataFrame:
    """The external rows of ``cfg.file`` (workspace-relative): target encoded, ``need`` columns checked."""
    from medalist.workspace.data import read_table
    from medalist.workspace.paths import Workspace

    path = Workspace.find().path(cfg.file)
    if not path.is_file():
        raise ConfigError("model.params.external.file", expected="a csv/parquet file of labelled rows",
                          found=f"'{cfg.file}' (no such file)", fix="check the path (relative to the workspace)")
    frame = read_table(path, what="external rows")
    for c in [*ctx.target, *need]:
        if c not in frame.columns:
            raise DataError(f"{cfg.file}: column '{c}'", expected="the target and input columns of the training rows",
                            found=f"no such column{did_you_mean(c, frame.columns)}", fix=f"add '{c}' to the external file")
    for t in ctx.target:
        n_null = frame.get_column(t).null_count()
        if n_null:
            raise DataError(f"{cfg.file}: target '{t}'", expected="a label on every row", found=f"{n_null} missing of {frame.height}",
                            fix="drop the unlabelled rows")
    frame = _encode_labels(frame, ctx, cfg.file)
    if ctx.weight is not None:
        frame = frame.with_columns(pl.lit(cfg.weight, dtype=pl.Float64).alias(ctx.weight))
    elif cfg.weight != 1.0:
        raise ConfigError("model.params.external.weight", expected="1 without a weight column",
                          found=str(cfg.weight), fix="set weight: <column> in the experiment, or drop external.weight")
    return frame


def with_external(cfg: ExternalConfig | None, train: pl.DataFrame, ctx: FitContext, need: list[str]) -> tuple[pl.DataFrame, int]:
    """``train`` followed by the external rows (train's columns; missing ones null), and their count.

    >>> with_external(None, pl.DataFrame({"a": [1]}), FitContext(task="binary", target=["y"], features=[]), [])[1]
    0
    """
    if cfg is None:
        return train, 0
    ext = load_external(cfg, ctx, need)
    ext = ext.select([c for c in train.columns if c in ext.columns])
    log.info("external: %d rows from %s added to %d training rows", ext.height, cfg.file, train.height)
    return pl.concat([train, ext], how="diagonal_relaxed"), ext.height
