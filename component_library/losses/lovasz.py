"""Lovasz-softmax loss (Berman et al. 2018), a convex surrogate of mean IoU."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LovaszSoftmaxLoss(nn.Module):
    """Lovasz extension of ``1 - IoU`` on softmax probabilities, per class.

    Follows the authors' reference ``lovasz_softmax(per_image=False)``: the
    non-ignored pixels of the whole batch are pooled; for each class the
    errors ``|y_c - p_c|`` are sorted in decreasing order and dotted with the
    gradient of the Lovasz extension of the Jaccard loss; classes are averaged.

    Args:
        ignore_index: target value whose pixels are left out entirely.
        present_only: average only over the classes that occur in the batch's
            (non-ignored) target, the reference default (``classes="present"``).
            A batch without any valid pixel then gives 0.

    Shapes: logits ``(B, K, H, W)``, target ``(B, H, W)`` long -> scalar.
    """

    def __init__(self, ignore_index: int = 255, present_only: bool = True) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.present_only = present_only

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """logits: (B, K, H, W), target: (B, H, W) long -> scalar."""
        num_classes = logits.shape[1]
        probs = logits.softmax(dim=1).movedim(1, -1).reshape(-1, num_classes)  # (N, K)
        labels = target.reshape(-1)
        valid = labels != self.ignore_index
        probs, labels = probs[valid], labels[valid]
        fg = F.one_hot(labels, num_classes).to(probs.dtype)  # (N, K)

        errors, order = (fg - probs).abs().sort(dim=0, descending=True)
        fg_sorted = fg.gather(0, order)
        # Gradient of the Lovasz extension: successive differences of the
        # Jaccard loss of the top-i pixels, per class (column).
        total = fg_sorted.sum(0)
        intersection = total - fg_sorted.cumsum(0)
        union = total + (1 - fg_sorted).cumsum(0)
        jaccard = 1 - intersection / union
        grad = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])
        per_class = (errors * grad).sum(0)  # (K,)

        counted = (total > 0) | (not self.present_only)  # (K,) bool
        return (per_class * counted).sum() / counted.sum().clamp_min(1)
