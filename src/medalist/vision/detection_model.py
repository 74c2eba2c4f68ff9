"""``model: detection``: a registered model around :mod:`medalist.vision.detection`, fitted per fold by the runner.

The competition table has one row per image (its target is any per-image label, e.g. "has a box");
the boxes come from a separate table (``boxes:``, columns ``image_id, x, y, w, h, label``). Each fold
model trains a torchvision detector on its training images' boxes; its OOF/test column is the
best box score per image, and the boxes themselves are kept in the fold folder as ``boxes.parquet``
(gather a run's with :func:`run_boxes`: OOF boxes with their fold, test boxes fused across folds).

>>> from medalist.models import create_model
>>> create_model("detection", {"arch": "fcos", "boxes": "data/train_boxes.csv", "images": {"pattern": "{id}.png"}}).registered_name
'detection'
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medalist.core.errors import ConfigError, DataError, RunError
from medalist.models.base import ModelAdapter
from medalist.models.protocol import FitContext
from medalist.models.registry import MODELS
from medalist.vision.detection import ARCHS, DetectorParams, fit_detector, predict_boxes

__all__ = ["DetectionModel", "run_boxes"]

_KEYS = {"arch", "num_classes", "widths", "fpn_channels", "epochs", "batch_size", "lr", "hflip_train", "tta_hflip",
         "score_thr", "max_boxes"}
_OWN = {"boxes", "images", "id_col", "score_label"}


class DetectionModel(ModelAdapter):
    """FCOS / Faster R-CNN / RetinaNet on one-channel square images; see the module docstring."""

    name = "detection"

    def _validate(self) -> None:
        super()._validate()
        p = self._params()
        bad = sorted(set(p) - _KEYS - _OWN)
        if bad:
            raise ConfigError(f"model.params.{bad[0]}", expected="one of " + ", ".join(sorted(_KEYS | _OWN)), found=f"'{bad[0]}'")
        for key in ("boxes", "images"):
            if key not in p:
                raise ConfigError(f"model.params.{key}", expected="a boxes table path (boxes) and {pattern, dirs} (images)", found="nothing")
        if p.get("arch", "fcos") not in ARCHS:
            DetectorParams(arch=p["arch"])  # raises the ConfigError naming the choices

    def _det(self, seed: int = 0) -> DetectorParams:
        p = self._params()
        return DetectorParams(**{k: v for k, v in p.items() if k in _KEYS}, seed=seed)

    def _images(self, frame: pl.DataFrame) -> tuple[np.ndarray, list[str]]:
        from PIL import Image

        p = self._params()
        spec, id_col = p["images"], p.get("id_col", "id")
        if id_col not in frame.columns:
            raise ConfigError("model.params.id_col", expected="the column naming each image", found=f"'{id_col}', not a column")
        dirs = [Path(d) for d in spec.get("dirs", ["."])]
        ids = [str(i) for i in frame[id_col].to_list()]
        out = []
        for row in frame.iter_rows(named=True):
            name = spec["pattern"].format(**row)
            path = next((d / name for d in dirs if (d / name).is_file()), None)
            if path is None:
                raise DataError(f"image '{name}'", expected=f"a file in {', '.join(map(str, dirs))}", found="none")
            out.append(np.asarray(Image.open(path).convert("L")))
        shapes = {a.shape for a in out}
        if len(shapes) > 1 or (out and out[0].shape[0] != out[0].shape[1]):
            raise DataError("detection images", expected="square images of one size", found=", ".join(map(str, sorted(shapes))))
        return np.stack(out) if out else np.zeros((0, 1, 1), np.uint8), ids

    def fit(self, train: pl.DataFrame, valid: pl.DataFrame | None, ctx: FitContext) -> DetectionModel:
        from medalist.vision.detection_boxes import check_boxes
        from medalist.workspace.data import read_table

        self._start_fit(train, ctx)
        imgs, ids = self._images(train)
        src = str(self._params()["boxes"])
        table = check_boxes(read_table(Path(src), what="boxes"), source=src)
        table = check_boxes(table.filter(pl.col("image_id").is_in(ids)), size=imgs.shape[1:], ids=ids, source=src)
        self.det_ = self._det(ctx.seed)
        self.net_ = fit_detector(imgs, ids, table, self.det_)
        self.size_ = int(imgs.shape[-1])
        self.best_iteration_ = self.det_.epochs
        self._box_log: list[pl.DataFrame] = []
        return self

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """The best box score per image; the boxes are kept for ``save`` (``boxes.parquet``)."""
        from medalist.vision.detection_boxes import image_scores

        self._check_fitted()
        if frame.height == 0:
            return np.empty(0, dtype=np.float64)
        imgs, ids = self._images(frame)
        boxes = predict_boxes(self.net_, imgs, ids, tta_hflip=self.det_.tta_hflip)
        self.__dict__.setdefault("_box_log", []).append(boxes)
        label = self._params().get("score_label")  # the OOF column: best score of any box, or of this label's
        return image_scores(boxes if label is None else boxes.filter(pl.col("label") == int(label)), ids)

    def _save_native(self, path: Path) -> None:
        import torch

        torch.save({k: v.cpu() for k, v in self.net_.state_dict().items()}, path / "weights.pt")
        logged = self.__dict__.get("_box_log") or []
        if logged:
            pl.concat(logged).write_parquet(path / "boxes.parquet")

    def _extra_meta(self) -> dict[str, Any]:
        return {"size": self.size_, "seed": self.det_.seed}

    def _load_native(self, path: Path, meta: dict[str, Any]) -> None:
        import torch

        from medalist.vision.detection import build_detector

        self.det_ = self._det(meta.get("seed", 0))
        self.size_ = int(meta["size"])
        net = build_detector(self.det_, self.size_)
        net.load_state_dict(torch.load(path / "weights.pt", weights_only=True, map_location="cpu"))
        self.net_ = net.eval()


def run_boxes(run: Any, id_col: str = "id") -> dict[str, pl.DataFrame]:
    """A detection run's OOF boxes (with the ``fold`` that validated them) and test boxes (WBF of the
    fold models'), from its fold folders' ``boxes.parquet``; written as ``oof_boxes.parquet`` and
    ``test_boxes.parquet`` in the run folder."""
    from medalist.vision.detection_boxes import fuse_boxes

    root = Path(run.path)
    oof = run.oof()
    oof_ids = set(oof.get_column(id_col if id_col in oof.columns else oof.columns[0]).cast(pl.String).to_list())
    parts = sorted(p for p in (root / "models").glob("r*_f*") if (p / "boxes.parquet").is_file())
    if not parts:
        raise RunError(f"run '{run.id}'", expected="a detection run with boxes.parquet under models/", found="no stored boxes",
                       fix="train it with model: detection")
    oofs, tests, size = [], [], 0
    for p in parts:
        size = int(json.loads((p / "model.json").read_text())["size"])
        b = pl.read_parquet(p / "boxes.parquet")
        fold = int(re.search(r"_f(\d+)", p.name).group(1))  # type: ignore[union-attr]
        oofs.append(b.filter(pl.col("image_id").is_in(list(oof_ids))).with_columns(fold=pl.lit(fold)))
        tests.append(b.filter(~pl.col("image_id").is_in(list(oof_ids))))
    out = {"oof": pl.concat(oofs), "test": fuse_boxes(tests, size=(size, size))}
    out["oof"].write_parquet(root / "oof_boxes.parquet")
    out["test"].write_parquet(root / "test_boxes.parquet")
    return out


MODELS.register("detection")(DetectionModel)
