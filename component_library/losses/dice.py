"""Soft multi-class Dice loss for semantic segmentation."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class DiceLoss(nn.Module):
    """``1 - Dice`` between softmax probabilities and one-hot targets, per class.

    For class ``c`` with probabilities ``p_c`` and one-hot target ``y_c``,
    summed over every non-ignored pixel of the batch::

        dice_c = (2 * sum(p_c * y_c) + smooth) / (sum(p_c) + sum(y_c) + smooth)
        loss   = mean over classes of (1 - dice_c)

    Args:
        ignore_index: target value whose pixels are left out entirely.
        smooth: added to numerator and denominator; keeps the ratio defined
            for empty classes and softens it for tiny ones.
        present_only: average only over the classes that occur in the batch's
            (non-ignored) target, as the Lovasz-softmax reference does. A batch
            without any valid pixel then gives 0. With ``False``, absent
            classes count too, which penalises any probability given to them.

    Shapes: logits ``(B, K, H, W)``, target ``(B, H, W)`` long -> scalar.
    """

    def __init__(
        self, ignore_index: int = 255, smooth: float = 1.0, present_only: bool = True
    ) -> None:
        super().__init__()
        if smooth < 0:
            raise ValueError(f"DiceLoss: smooth must be >= 0, got {smooth}")
        self.ignore_index = ignore_index
        self.smooth = smooth
        self.present_only = present_only

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """logits: (B, K, H, W), target: (B, H, W) long -> scalar."""
        valid = (target != self.ignore_index).unsqueeze(1)
        probs = logits.softmax(dim=1) * valid
        one_hot = F.one_hot(target.where(valid.squeeze(1), 0), logits.shape[1])
        one_hot = one_hot.permute(0, 3, 1, 2).to(probs.dtype) * valid
        dims = (0, 2, 3)
        intersection = (probs * one_hot).sum(dims)
        support = one_hot.sum(dims)
        cardinality = probs.sum(dims) + support
        # The clamp only matters for smooth=0 and a class absent from both.
        dice = (2 * intersection + self.smooth) / (cardinality + self.smooth).clamp_min(1e-7)
        counted = (support > 0) | (not self.present_only)  # (K,) bool
        return ((1 - dice) * counted).sum() / counted.sum().clamp_min(1)
