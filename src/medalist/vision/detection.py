"""Box detectors: torchvision's FCOS, Faster R-CNN and RetinaNet with their standard heads, k-fold OOF boxes.

The heads, losses, anchor matching and NMS are torchvision's; medalist adds a small from-scratch
backbone (a few conv blocks and an FPN, no download — ``weights=None`` everywhere) sized for small
images, a plain training loop, horizontal-flip TTA with the boxes flipped back and fused by WBF,
and :func:`kfold_boxes`, which fits one detector per fold on the shared fold column and keeps every
image's out-of-fold boxes (``image_id, x, y, w, h, label, score, fold``) plus the test boxes of each
fold. Scores come from :mod:`medalist.vision.detection_boxes` (mAP by torchmetrics/pycocotools).

>>> oof, test = kfold_boxes(images, ids, boxes, folds, arch="fcos", epochs=8)  # doctest: +SKIP
>>> mean_ap(oof, boxes)["map"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from medalist.core.errors import ConfigError, did_you_mean
from medalist.vision.detection_boxes import _table, check_boxes, fuse_boxes

__all__ = ["ARCHS", "DetectorParams", "build_detector", "fit_detector", "kfold_boxes", "predict_boxes"]

ARCHS = ("fcos", "fasterrcnn", "retinanet")


@dataclass
class DetectorParams:
    """Detector settings: ``arch`` (fcos, fasterrcnn, retinanet), the number of box labels, the
    backbone widths (one FPN level per width after the first), training length and TTA."""

    arch: str = "fcos"
    num_classes: int = 3
    widths: Sequence[int] = (16, 32, 64)
    fpn_channels: int = 64
    epochs: int = 10
    batch_size: int = 16
    lr: float = 2e-3
    hflip_train: bool = True
    tta_hflip: bool = False
    score_thr: float = 0.05
    max_boxes: int = 20
    seed: int = 0
    device: str = "auto"  # auto: the GPU when there is one
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ConfigError("detection arch", expected="one of " + ", ".join(ARCHS), found=f"'{self.arch}'{did_you_mean(self.arch, ARCHS)}")
        if self.num_classes < 1 or self.epochs < 1 or len(self.widths) < 2:
            raise ConfigError("detection params", expected="num_classes >= 1, epochs >= 1, at least two widths",
                              found=f"num_classes={self.num_classes}, epochs={self.epochs}, widths={list(self.widths)}")


def _backbone(p: DetectorParams):
    """Conv blocks (stride 2 each) on one grey channel; an FPN over every block after the first."""
    from collections import OrderedDict

    import torch.nn as nn
    from torchvision.ops import FeaturePyramidNetwork

    class Backbone(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            blocks, cin = [], 1
            for w in p.widths:
                blocks.append(nn.Sequential(nn.Conv2d(cin, w, 3, 2, 1), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                                            nn.Conv2d(w, w, 3, 1, 1), nn.BatchNorm2d(w), nn.ReLU(inplace=True)))
                cin = w
            self.blocks = nn.ModuleList(blocks)
            self.fpn = FeaturePyramidNetwork(list(p.widths[1:]), p.fpn_channels)
            self.out_channels = p.fpn_channels

        def forward(self, x):
            feats = OrderedDict()
            for k, b in enumerate(self.blocks):
                x = b(x)
                if k >= 1:
                    feats[str(k - 1)] = x
            return self.fpn(feats)

    return Backbone()


def build_detector(p: DetectorParams, size: int):
    """The torchvision detector of ``p.arch`` on the small backbone, for ``size``-pixel square grey images.

    Labels inside the network are the box labels + 1 (Faster R-CNN reserves 0 for background)."""
    from torchvision.models.detection import FCOS, FasterRCNN, RetinaNet
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.ops import MultiScaleRoIAlign

    levels = len(p.widths) - 1
    base = [4 * 2 ** (k + 1) for k in range(levels)]  # stride of level k is 2 ** (k + 2)
    common = {"min_size": size, "max_size": size, "image_mean": [0.2], "image_std": [0.3],
              "num_classes": p.num_classes + 1, **p.extra}
    backbone = _backbone(p)
    if p.arch == "fcos":
        anchors = AnchorGenerator(tuple((s,) for s in base), ((1.0,),) * levels)
        return FCOS(backbone, anchor_generator=anchors, score_thresh=p.score_thr, detections_per_img=p.max_boxes, **common)
    if p.arch == "retinanet":
        anchors = AnchorGenerator(tuple((s, s * 1.5) for s in base), ((0.5, 1.0, 2.0),) * levels)
        return RetinaNet(backbone, anchor_generator=anchors, score_thresh=p.score_thr, detections_per_img=p.max_boxes, **common)
    anchors = AnchorGenerator(tuple((s, s * 2) for s in base), ((0.5, 1.0, 2.0),) * levels)
    pool = MultiScaleRoIAlign([str(k) for k in range(levels)], output_size=7, sampling_ratio=2)
    return FasterRCNN(backbone, rpn_anchor_generator=anchors, box_roi_pool=pool, box_score_thresh=p.score_thr,
                      box_detections_per_img=p.max_boxes, rpn_pre_nms_top_n_train=300, rpn_post_nms_top_n_train=100,
                      rpn_pre_nms_top_n_test=200, rpn_post_nms_top_n_test=50, box_batch_size_per_image=64, **common)


def _targets(boxes: pl.DataFrame, ids: Sequence[str]) -> list[dict]:
    import torch

    groups = {k[0]: g for k, g in boxes.group_by("image_id")}
    out = []
    for i in ids:
        g = groups.get(i)
        xy = g.select("x", "y", "w", "h").to_numpy() if g is not None else np.zeros((0, 4))
        lab = g["label"].to_numpy() + 1 if g is not None else np.zeros(0, np.int64)
        out.append({"boxes": torch.tensor(np.c_[xy[:, :2], xy[:, :2] + xy[:, 2:]], dtype=torch.float32),
                    "labels": torch.tensor(lab, dtype=torch.int64)})
    return out


def _tensor(images: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32) / 255.0).unsqueeze(1)


def fit_detector(images: np.ndarray, ids: Sequence[str], boxes: pl.DataFrame, p: DetectorParams):
    """Train a detector on ``images`` (n, size, size) uint8 and their box table; returns it in eval mode."""
    import torch

    size = images.shape[-1]
    boxes = check_boxes(boxes, size=images.shape[1:], ids=ids, source="training boxes")
    torch.manual_seed(p.seed)
    rng = np.random.default_rng(p.seed)
    dev = torch.device("cuda" if p.device == "auto" and torch.cuda.is_available() else ("cpu" if p.device == "auto" else p.device))
    net = build_detector(p, size).to(dev)
    x, targets = _tensor(images).to(dev), [{k: v.to(dev) for k, v in t.items()} for t in _targets(boxes, ids)]
    opt = torch.optim.AdamW(net.parameters(), lr=p.lr, weight_decay=1e-4)
    steps = p.epochs * -(-len(ids) // p.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=p.lr, total_steps=steps, pct_start=0.15)
    net.train()
    for _ in range(p.epochs):
        order = rng.permutation(len(ids))
        for s in range(0, len(order), p.batch_size):
            idx = order[s:s + p.batch_size]
            flip = rng.random(len(idx)) < 0.5 if p.hflip_train else np.zeros(len(idx), bool)
            imgs = [x[i].flip(-1) if f else x[i] for i, f in zip(idx, flip, strict=True)]
            tg = [_flip_target(targets[i], size) if f else targets[i] for i, f in zip(idx, flip, strict=True)]
            loss = sum(net(imgs, tg).values())
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
            opt.step()
            sched.step()
    return net.eval()


def _flip_target(t: dict, width: int) -> dict:
    b = t["boxes"].clone()
    b[:, [0, 2]] = width - t["boxes"][:, [2, 0]]
    return {"boxes": b, "labels": t["labels"]}


def _predict(net, images: np.ndarray, ids: Sequence[str], flip: bool, batch: int = 64) -> pl.DataFrame:
    import torch

    x, size, rows = _tensor(images), images.shape[-1], []
    dev = next(net.parameters()).device
    with torch.no_grad():
        for s in range(0, len(ids), batch):
            xb = x[s:s + batch].to(dev)
            out = [{k: v.cpu() for k, v in o.items()} for o in net(list(xb.flip(-1) if flip else xb))]
            for i, o in zip(ids[s:s + batch], out, strict=True):
                b = o["boxes"].numpy().astype(float)
                if flip:
                    b[:, [0, 2]] = size - b[:, [2, 0]]
                b = np.clip(b, 0, size)
                for (x1, y1, x2, y2), lab, sc in zip(b, o["labels"].numpy(), o["scores"].numpy(), strict=True):
                    if lab >= 1 and x2 > x1 and y2 > y1:
                        rows.append((i, x1, y1, x2 - x1, y2 - y1, int(lab) - 1, float(sc)))
    return _table(rows)


def predict_boxes(net, images: np.ndarray, ids: Sequence[str], *, tta_hflip: bool = False, iou_thr: float = 0.55) -> pl.DataFrame:
    """Box table (with ``score``) of a fitted detector on ``images``; with ``tta_hflip`` the flipped view's
    boxes are flipped back and fused with the plain view's by WBF."""
    ids = list(ids)
    plain = _predict(net, images, ids, False)
    if not tta_hflip:
        return plain
    return fuse_boxes([plain, _predict(net, images, ids, True)], size=images.shape[1:], iou_thr=iou_thr)


def kfold_boxes(images: np.ndarray, ids: Sequence[str], boxes: pl.DataFrame, folds: np.ndarray, *,
                test_images: np.ndarray | None = None, test_ids: Sequence[str] | None = None,
                **params) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """One detector per fold of ``folds`` (the fold of each image): out-of-fold boxes of every image
    (with a ``fold`` column) and the test boxes of each fold's detector (fuse them with
    :func:`~medalist.vision.detection_boxes.fuse_boxes`)."""
    import torch

    p = DetectorParams(**params)
    ids = list(ids)
    folds = np.asarray(folds)
    if len(folds) != len(ids) or len(images) != len(ids):
        raise ConfigError("kfold_boxes", expected="one image and one fold per id", found=f"{len(ids)} ids, {len(images)} images, {len(folds)} folds")
    boxes = check_boxes(boxes, size=images.shape[1:], ids=ids, source="training boxes")
    oof, test = [], []
    threads = torch.get_num_threads()
    for f in np.unique(folds):
        tr, va = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
        tr_ids = [ids[i] for i in tr]
        net = fit_detector(images[tr], tr_ids, boxes.filter(pl.col("image_id").is_in(tr_ids)), p)
        oof.append(predict_boxes(net, images[va], [ids[i] for i in va], tta_hflip=p.tta_hflip).with_columns(fold=pl.lit(int(f))))
        if test_images is not None:
            test.append(predict_boxes(net, test_images, list(test_ids or []), tta_hflip=p.tta_hflip))
    torch.set_num_threads(threads)
    return pl.concat(oof), test
