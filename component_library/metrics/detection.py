"""COCO-style detection metrics: torchmetrics ``MeanAveragePrecision`` on pycocotools."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.detection import MeanAveragePrecision

# pycocotools' own thresholds (Params.setDetParams), in float64. torchmetrics' defaults
# come from float32 torch.linspace, so a recall such as 0.34 falls on the other side of
# a threshold and the AP drifts from the official value by up to ~1e-3.
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10).tolist()
COCO_RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101).tolist()


class DetectionMAP(MeanAveragePrecision):
    """COCO box mAP, computed by pycocotools exactly as the official COCO evaluation.

    ``update(preds, target)`` takes one dict per image: preds ``boxes (N, 4)``
    xyxy, ``scores (N,)``, ``labels (N,)`` long; target ``boxes (M, 4)`` xyxy,
    ``labels (M,)`` and optionally ``iscrowd (M,)`` (crowd boxes are matched
    but neither count as misses nor make false positives). Other target keys
    are ignored.

    ``compute()`` keys:

    - ``map``: AP averaged over IoU 0.50:0.05:0.95 and the classes.
    - ``map_50``, ``map_75``: AP at IoU 0.5 and 0.75.
    - ``mar_100``: recall with at most 100 detections per image.
    - ``ap_per_class``: ``(K,)`` AP of each class at IoU 0.50:0.95; -1 for a
      class without any ground truth box in the epoch.

    Scalars are -1 when the epoch holds no ground truth box at all.
    """

    def __init__(self, num_classes: int) -> None:
        super().__init__(
            box_format="xyxy",
            iou_type="bbox",
            iou_thresholds=COCO_IOU_THRESHOLDS,
            rec_thresholds=COCO_RECALL_THRESHOLDS,
            class_metrics=True,
            backend="pycocotools",
        )
        self.num_classes = num_classes

    def compute(self) -> dict[str, Tensor]:
        """See the class docstring."""
        result = super().compute()
        per_class = torch.full((self.num_classes,), -1.0)
        classes = result["classes"].reshape(-1).long()
        known = classes < self.num_classes
        per_class[classes[known]] = result["map_per_class"].reshape(-1)[known].float()
        return {
            "map": result["map"],
            "map_50": result["map_50"],
            "map_75": result["map_75"],
            "mar_100": result["mar_100"],
            "ap_per_class": per_class,
        }


def detection_metrics(num_classes: int) -> MetricCollection:
    """A collection whose ``compute()`` holds ``DetectionMAP``'s keys (see there)."""
    if num_classes < 1:
        raise ValueError(f"detection_metrics: num_classes must be >= 1, got {num_classes}")
    return MetricCollection({"map": DetectionMAP(num_classes)})
