"""Shared machinery of the soft overlap losses (Dice, Jaccard) for segmentation."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class SoftOverlapLoss(nn.Module):
    """``1 - score`` per class, from softmax probabilities and one-hot targets.

    Subclasses define ``score`` from three per-class sums over every non-ignored
    pixel of the batch: ``intersection = sum(p_c * y_c)``, ``predicted = sum(p_c)``
    and ``support = sum(y_c)``.

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
            raise ValueError(f"{type(self).__name__}: smooth must be >= 0, got {smooth}")
        self.ignore_index = ignore_index
        self.smooth = smooth
        self.present_only = present_only

    def score(self, intersection: Tensor, predicted: Tensor, support: Tensor) -> Tensor:
        """Per-class overlap in ``[0, 1]`` from ``(K,)`` sums; higher is better."""
        raise NotImplementedError

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """logits: (B, K, H, W), target: (B, H, W) long -> scalar."""
        valid = (target != self.ignore_index).unsqueeze(1)
        probs = logits.softmax(dim=1) * valid
        one_hot = F.one_hot(target.where(valid.squeeze(1), 0), logits.shape[1])
        one_hot = one_hot.permute(0, 3, 1, 2).to(probs.dtype) * valid
        dims = (0, 2, 3)
        support = one_hot.sum(dims)
        score = self.score((probs * one_hot).sum(dims), probs.sum(dims), support)
        counted = (support > 0) | (not self.present_only)  # (K,) bool
        return ((1 - score) * counted).sum() / counted.sum().clamp_min(1)
