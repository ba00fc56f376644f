"""Softmax focal loss (Lin et al. 2017), for classification and segmentation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class FocalLoss(nn.Module):
    """Cross-entropy scaled by ``(1 - p_t) ** gamma``, so easy examples count less.

    For a target ``t`` with predicted probability ``p_t`` (softmax over ``K``)::

        loss = -alpha_t * (1 - p_t) ** gamma * log(p_t)

    Args:
        gamma: focusing exponent, ``>= 0``; ``gamma=0`` and ``alpha=None`` is
            plain cross-entropy.
        alpha: ``None`` (no weighting), one float that scales every term, or
            one weight per class (length ``K``).
        ignore_index: target value that contributes neither loss nor gradient.

    Shapes: logits ``(B, K)`` with target ``(B,)``, or logits ``(B, K, H, W)``
    with target ``(B, H, W)``; targets are long class indices.

    Returns a scalar: the sum over non-ignored targets divided by their count
    (per-class ``alpha`` does not renormalise the mean, unlike the ``weight``
    of ``F.cross_entropy``); 0 when every target is ignored.
    """

    alpha: Tensor | None

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | None = None,
        ignore_index: int = -100,
    ) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"FocalLoss: gamma must be >= 0, got {gamma}")
        # A buffer, so per-class weights follow the module to the logits' device.
        self.register_buffer(
            "alpha", None if alpha is None else torch.tensor(alpha, dtype=torch.float32)
        )
        self.gamma = gamma
        self.ignore_index = ignore_index

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """logits: (B, K[, H, W]), target: (B[, H, W]) long -> scalar."""
        valid = target != self.ignore_index
        ce = F.cross_entropy(logits, target, ignore_index=self.ignore_index, reduction="none")
        p_t = torch.exp(-ce)
        # Clamped so that 0 < gamma < 1 keeps a finite gradient where p_t rounds to 1.
        loss = (1 - p_t).clamp_min(torch.finfo(p_t.dtype).eps) ** self.gamma * ce
        if self.alpha is not None:
            loss = loss * (self.alpha[target.where(valid, 0)] if self.alpha.ndim else self.alpha)
        return loss.sum() / valid.sum().clamp_min(1)
