"""Semantic segmentation metrics (torchmetrics)."""

from __future__ import annotations

from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassF1Score, MulticlassJaccardIndex


def segmentation_metrics(num_classes: int, ignore_index: int = 255) -> MetricCollection:
    """Mean and per-class IoU and mean Dice over all pixels of the epoch.

    Pixels whose target is ``ignore_index`` are left out of every metric.
    Keys of ``compute()``:

    - ``miou``: scalar, mean IoU over the classes that occur in the
      predictions or targets of the epoch (a class absent from both has no
      defined IoU and is skipped).
    - ``iou_per_class``: ``(K,)`` IoU of each class; 0 for an absent class.
    - ``dice``: scalar, mean Dice (= F1) over the same classes as ``miou``.

    ``update(preds, target)``: preds ``(B, K, H, W)`` logits or probabilities
    (only their arg-max is used), target ``(B, H, W)`` long.
    """
    if num_classes < 2:
        raise ValueError(f"segmentation_metrics: num_classes must be >= 2, got {num_classes}")
    return MetricCollection(
        {
            "miou": MulticlassJaccardIndex(num_classes, average="macro", ignore_index=ignore_index),
            "iou_per_class": MulticlassJaccardIndex(
                num_classes, average="none", ignore_index=ignore_index
            ),
            "dice": MulticlassF1Score(num_classes, average="macro", ignore_index=ignore_index),
        },
        # Explicit groups: only metrics whose update is identical (the same confusion
        # matrix) share a state. Automatic groups merge any metrics whose states happen to
        # be equal after the first update, even when their updates differ.
        compute_groups=[["miou", "iou_per_class"], ["dice"]],
    )
