"""Mask gating by a classifier run, evaluated on OOF, writing an RLE submission
(``medalist postprocess gate-masks CONFIG``).

The SIIM pneumothorax recipe: a classifier decides whether an image has a finding, the segmenter
draws it. The config names both runs (trained on the same folds) and the grids::

    segmenter: seg-001        # a model: segmentation run (its masks.npz)
    classifier: cls-001       # any binary run of the same target (its OOF/test probabilities)
    gates: [0.0, 0.3, 0.5, 0.7]    # 0.0 = no gating; the search picks one
    thresholds: [0.3, 0.4, 0.5, 0.6, 0.7]
    areas: [0, 10, 30, 60]         # min connected-component area, pixels of the stored masks
    out: submissions/gated.csv     # optional

The (gate, pixel threshold, min area) triple is chosen on the OOF masks against the train masks; the
nested dice (each fold cut by the triple chosen on the others) is reported beside the ungated one
(gate 0). Test masks (fold models' mean) are gated, upsampled to each image's size and RLE-encoded
in the sample submission's order (``-1`` for empty). Masks are scored at the stored ``oof_size``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field

from medalist.core.config import Strict, validate
from medalist.core.errors import ConfigError, DataError, RunError

__all__ = ["GateConfig", "gate_run", "oof_truth"]


class GateConfig(Strict):
    segmenter: str
    classifier: str | None = None
    gates: list[float] = Field(default_factory=lambda: [0.0, 0.3, 0.5, 0.7])
    thresholds: list[float] = Field(default_factory=lambda: [0.3, 0.4, 0.5, 0.6, 0.7])
    areas: list[int] = Field(default_factory=lambda: [0, 10, 30, 60])
    out: str | None = None
    pred: str = "pred"  # the classifier's probability column


def _resize(m: np.ndarray, shape: tuple[int, int], nearest: bool) -> np.ndarray:
    if m.shape == tuple(shape):
        return m
    from PIL import Image

    return np.asarray(Image.fromarray(m).resize((shape[1], shape[0]), Image.NEAREST if nearest else Image.BILINEAR))


def _classifier(run: Any, id_col: str, ids: np.ndarray, pred: str, which: str) -> np.ndarray:
    frame = run.oof() if which == "oof" else run.test()
    if pred not in frame.columns:
        raise RunError(f"run '{run.id}'", expected=f"a binary run with a '{pred}' column", found=f"columns {frame.columns}",
                       fix="name a binary classifier run (or set pred: COLUMN)")
    got = pl.DataFrame({id_col: [str(i) for i in ids]}).join(
        frame.select(pl.col(id_col).cast(pl.String), pl.col(pred)), on=id_col, how="left")
    p = got.get_column(pred).to_numpy().astype(float)
    if np.isnan(p).any():
        raise RunError(f"run '{run.id}' {which} predictions", expected=f"a probability for every id of the segmenter's {which} masks",
                       found=f"{int(np.isnan(p).sum())} missing", fix="train both runs on the same folds and test table")
    return p


def gate_run(ws, config: str | Path | dict[str, Any]) -> dict[str, Any]:
    """Search (gate, threshold, min area) on OOF, write the gated test submission; returns the figures."""
    import yaml

    from medalist.postprocess.masks import binarize, search_mask_threshold
    from medalist.postprocess.rle import rle_encode
    from medalist.runs.store import Run
    from medalist.workspace.data import read_table

    where = str(config) if not isinstance(config, dict) else "gate config"
    if not isinstance(config, dict):
        path = Path(config)
        if not path.is_file():
            raise ConfigError(str(path), expected="a gate-masks YAML (segmenter, classifier, grids)", found="no such file")
        config = yaml.safe_load(path.read_text()) or {}
    cfg = validate(GateConfig, config, where)
    comp = ws.competition
    id_col = comp.id
    seg = Run.open(ws, cfg.segmenter)
    o = oof_truth(ws, seg)
    p, src, oof_ids, oof, truth, masks = o["params"], o["source"], o["ids"], o["oof"], o["truth"], o["masks"]
    folds = _folds_of(seg, id_col, oof_ids)
    cls_oof = _classifier(Run.open(ws, cfg.classifier), id_col, oof_ids, cfg.pred, "oof") if cfg.classifier else None
    plain = search_mask_threshold(truth, oof, folds, thresholds=cfg.thresholds, areas=cfg.areas)
    gated = search_mask_threshold(truth, oof, folds, thresholds=cfg.thresholds, areas=cfg.areas, classifier=cls_oof,
                                  gates=cfg.gates) if cls_oof is not None else plain
    # test: the segmenter's fold-mean masks, cut and gated by the triple chosen on all OOF rows
    test_ids, test = masks["test_ids"], masks["test"]
    m = binarize(test, gated.threshold, gated.min_area).astype(np.uint8)
    if cls_oof is not None and gated.gate > 0:
        m[_classifier(Run.open(ws, cfg.classifier), id_col, test_ids, cfg.pred, "test") < gated.gate] = 0
    test_rows = read_table(ws.test_path, what="test")
    tby = {str(v): i for i, v in enumerate(test_rows.get_column(id_col).to_list())}
    missing = [i for i in test_ids.tolist() if i not in tby]
    if missing:
        raise DataError(f"run '{seg.id}' test masks", expected="ids of the test table", found=f"{len(missing)} unknown, e.g. {missing[:3]}")
    trefs = src.refs(test_rows[[tby[i] for i in test_ids.tolist()]], "test")
    rle = {i: rle_encode(_resize(mk, src.read(r).shape[:2], nearest=True), order=p.masks.order) for i, mk, r in zip(test_ids.tolist(), m, trefs)}
    sample = read_table(ws.sample_submission_path, what="sample submission")
    col = next(c for c in sample.columns if c != id_col)
    sub = sample.select(id_col).with_columns(pl.col(id_col).cast(pl.String).replace_strict(rle, default="-1").alias(col))
    out = Path(cfg.out) if cfg.out else ws.submissions_dir / f"gated-{seg.id}{'-' + cfg.classifier if cfg.classifier else ''}.csv"
    out = out if out.is_absolute() else ws.root / out
    out.parent.mkdir(parents=True, exist_ok=True)
    sub.write_csv(out)
    return {"segmenter": seg.id, "classifier": cfg.classifier, "file": str(out), "n_oof": len(oof_ids),
            "empty_fraction": float((~truth.reshape(len(truth), -1).any(1)).mean()),
            "ungated": plain.summary(), "gated": gated.summary(),
            "dice_nested_ungated": plain.nested, "dice_nested_gated": gated.nested,
            "all_empty_dice": float((~truth.reshape(len(truth), -1).any(1)).mean())}


def oof_truth(ws, seg: Any) -> dict[str, Any]:
    """A segmentation run's OOF masks beside the true masks at the stored size: ``ids``, ``oof`` and
    ``truth`` (n, s, s) uint8, ``images`` (the image references), ``params``, ``source``, ``masks`` (all of run_masks)."""
    from medalist.vision.data import ImageSource
    from medalist.vision.segmentation import SegmentationParams, run_masks
    from medalist.vision.segmentation_data import MaskSource
    from medalist.workspace.data import read_table

    id_col = ws.competition.id
    p = SegmentationParams.parse(seg.config.get("model", {}).get("params", {}), f"run '{seg.id}' model.params")
    masks = run_masks(seg, id_col)
    oof_ids, oof = masks["oof_ids"], masks["oof"]
    train = read_table(ws.train_path, what="train")
    by_id = {str(v): i for i, v in enumerate(train.get_column(id_col).to_list())}
    rows = train[[by_id[i] for i in oof_ids.tolist()]]
    src, msrc = ImageSource(p.images, p.in_chans, root=ws.root), MaskSource(p.masks, root=ws.root)
    irefs, mrefs = src.refs(rows, "train"), msrc.refs(rows, "train")
    size = oof.shape[1:]
    truth = np.stack([_resize(msrc.read(m, src.read(r).shape[:2], image=src.describe(r)), size, nearest=True)
                      for r, m in zip(irefs, mrefs)]) if len(irefs) else np.zeros((0, *size), np.uint8)
    return {"ids": oof_ids, "oof": oof, "truth": truth, "images": irefs, "params": p, "source": src, "masks": masks}


def _folds_of(run: Any, id_col: str, ids: np.ndarray) -> np.ndarray | None:
    """The fold of each id in ``run``'s OOF (its ``fold`` column), or None when it has none."""
    oof = run.oof()
    if "fold" not in oof.columns or id_col not in oof.columns:
        return None
    got = pl.DataFrame({id_col: ids.tolist()}).join(oof.select(pl.col(id_col).cast(pl.String), "fold").unique(id_col), on=id_col, how="left")
    return got.get_column("fold").to_numpy()
