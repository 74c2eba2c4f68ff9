"""Pseudo-labels: another run's confident test predictions as extra training rows.

``pseudo_label: {run: RUN, min_confidence: 0.9, soft: true}`` adds the test rows whose prediction is
at least ``min_confidence`` sure (binary: max(p, 1 − p); multiclass: the top probability;
multilabel: every label) to the training rows of every fold — never to validation, so the CV score
stays honest about labelled data. ``soft: true`` trains on the probabilities, else on hard labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import ConfigError, DataError
from medalist.vision.config import PseudoLabelConfig

__all__ = ["select_pseudo_labels", "load_pseudo_labels"]


def select_pseudo_labels(pred: np.ndarray, task: str, min_confidence: float, soft: bool) -> tuple[np.ndarray, np.ndarray]:
    """(row mask, soft targets (n_kept, D)) for predictions ``pred`` in medalist's shapes.

    >>> m, t = select_pseudo_labels(np.array([0.97, 0.5, 0.02]), "binary", 0.9, soft=False)
    >>> m.tolist(), t.ravel().tolist()
    ([True, False, True], [1.0, 0.0])
    """
    pred = np.asarray(pred, dtype=np.float64)
    if task == "binary":
        mask = np.maximum(pred, 1 - pred) >= min_confidence
        t = pred[mask][:, None]
        return mask, (t if soft else (t >= 0.5).astype(np.float64)).astype(np.float32)
    if task == "multiclass":
        mask = pred.max(axis=1) >= min_confidence
        t = pred[mask]
        if not soft:
            t = np.eye(pred.shape[1])[t.argmax(axis=1)]
        return mask, t.astype(np.float32)
    if task == "multilabel":
        mask = (np.maximum(pred, 1 - pred) >= min_confidence).all(axis=1)
        t = pred[mask]
        return mask, (t if soft else (t >= 0.5).astype(np.float64)).astype(np.float32)
    raise ConfigError("model.params.pseudo_label", expected="a binary, multiclass or multilabel task",
                      found=f"task '{task}'", fix="remove pseudo_label for regression")


def load_pseudo_labels(cfg: PseudoLabelConfig, task: str, columns: list[str]) -> tuple[pl.DataFrame, np.ndarray]:
    """The confident test rows of run ``cfg.run`` (with ``columns`` for their images) and their targets."""
    from medalist.runs.store import Run
    from medalist.workspace.data import read_table
    from medalist.workspace.paths import Workspace

    ws = Workspace.find()
    run = Run.open(ws, cfg.run)
    test = run.test()
    id_col = ws.competition.id
    pcols: list[Any] = run.record.pred_columns or [c for c in test.columns if c.startswith("pred")]
    pred = test.select(pcols).to_numpy()
    if task == "binary":
        pred = pred[:, 0]
    mask, targets = select_pseudo_labels(pred, task, cfg.min_confidence, cfg.soft)
    rows = test.filter(pl.Series(mask))
    need = [c for c in columns if c not in rows.columns]
    if need:
        raw = read_table(ws.test_path, what="test")
        missing = [c for c in need if c not in raw.columns]
        if missing:
            raise DataError(f"{ws.competition.data.test}: column '{missing[0]}'",
                            expected="the image columns of model.params.images (for pseudo-labelled rows)",
                            found="no such column", fix="check images.column / images.pattern")
        rows = rows.select(id_col).join(raw.select([id_col, *need]).with_columns(pl.col(id_col).cast(rows.schema[id_col])),
                                        on=id_col, how="left", maintain_order="left")
    return rows, targets
