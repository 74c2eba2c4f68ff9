"""Post-processing: the last few points of a score, each a small function with a CLI hook.

* :func:`assign` — Hungarian assignment over a cost matrix with a max-cost cut-off (NFL helmets:
  labels to detections), and :func:`match_boxes` on top of it by IoU;
* :func:`weighted_boxes_fusion` (ensemble-boxes) and :func:`soft_nms` for detection ensembles;
* :func:`smooth_temporal` — per-video moving average / median / max of per-frame predictions;
* :func:`search_threshold` — the OOF threshold that maximises F1, dice or any label metric
  (``medalist postprocess threshold``);
* :func:`nested_cutpoints` / :func:`fit_cutpoints` — ordinal cut-points (QWK) or one threshold (F1,
  MCC, dice) fitted fold by fold on OOF (``medalist postprocess thresholds``);
* :func:`gate_masks` — empty masks where a classifier says "no finding" (pneumothorax gold).
"""

from __future__ import annotations

from medalist.postprocess.assign import Assignment, assign, box_iou, match_boxes
from medalist.postprocess.boxes import soft_nms, weighted_boxes_fusion
from medalist.postprocess.ordinal import CutpointResult, apply_cutpoints, fit_cutpoints, nested_cutpoints
from medalist.postprocess.smoothing import smooth_temporal
from medalist.postprocess.thresholds import (
    ThresholdResult,
    dice_score,
    gate_masks,
    search_threshold,
)

__all__ = [
    "Assignment",
    "assign",
    "box_iou",
    "match_boxes",
    "weighted_boxes_fusion",
    "soft_nms",
    "smooth_temporal",
    "ThresholdResult",
    "search_threshold",
    "dice_score",
    "gate_masks",
    "CutpointResult",
    "apply_cutpoints",
    "fit_cutpoints",
    "nested_cutpoints",
]
