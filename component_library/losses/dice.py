"""Soft multi-class Dice loss for semantic segmentation."""

from __future__ import annotations

from torch import Tensor

from ._overlap import SoftOverlapLoss


class DiceLoss(SoftOverlapLoss):
    """``1 - Dice`` between softmax probabilities and one-hot targets, per class.

    For class ``c`` with probabilities ``p_c`` and one-hot target ``y_c``,
    summed over every non-ignored pixel of the batch::

        dice_c = (2 * sum(p_c * y_c) + smooth) / (sum(p_c) + sum(y_c) + smooth)
        loss   = mean over classes of (1 - dice_c)

    Arguments (``ignore_index``, ``smooth``, ``present_only``) are those of
    ``SoftOverlapLoss``. Shapes: logits ``(B, K, H, W)``, target ``(B, H, W)`` -> scalar.
    """

    def score(self, intersection: Tensor, predicted: Tensor, support: Tensor) -> Tensor:
        # The clamp only matters for smooth=0 and a class absent from both.
        denominator = (predicted + support + self.smooth).clamp_min(1e-7)
        return (2 * intersection + self.smooth) / denominator
