"""Soft multi-class Jaccard (IoU) loss for semantic segmentation."""

from __future__ import annotations

from torch import Tensor

from ._overlap import SoftOverlapLoss


class JaccardLoss(SoftOverlapLoss):
    """``1 - IoU`` between softmax probabilities and one-hot targets, per class.

    For class ``c`` with probabilities ``p_c`` and one-hot target ``y_c``,
    summed over every non-ignored pixel of the batch::

        inter_c = sum(p_c * y_c)
        iou_c   = (inter_c + smooth) / (sum(p_c) + sum(y_c) - inter_c + smooth)
        loss    = mean over classes of (1 - iou_c)

    Arguments (``ignore_index``, ``smooth``, ``present_only``) are those of
    ``SoftOverlapLoss``. Shapes: logits ``(B, K, H, W)``, target ``(B, H, W)`` -> scalar.
    """

    def score(self, intersection: Tensor, predicted: Tensor, support: Tensor) -> Tensor:
        # The clamp only matters for smooth=0 and a class absent from both.
        union = (predicted + support - intersection + self.smooth).clamp_min(1e-7)
        return (intersection + self.smooth) / union
