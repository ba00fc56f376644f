"""Asymmetric loss (ASL, Ridnik et al. 2021) for imbalanced multilabel data."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class AsymmetricLoss(nn.Module):
    """Binary cross-entropy with separate focusing for positives and negatives,
    and a probability margin that discards easy negatives.

    With ``p = sigmoid(logit)`` and the shifted probability
    ``p_m = max(p - clip, 0)``::

        positive (y = 1): -(1 - p) ** gamma_pos * log(p)
        negative (y = 0): -p_m ** gamma_neg * log(1 - p_m)

    Args:
        gamma_neg: focusing exponent of the negatives (large: easy negatives
            fade out).
        gamma_pos: focusing exponent of the positives.
        clip: probability margin ``m`` of the negatives, in ``[0, 1)``.
        eps: lower bound of the probabilities inside the logarithms.

    Shapes: logits ``(B, K)``, target ``(B, K)`` of 0/1 (any dtype) -> scalar.

    The reference implementation returns the *sum* over all ``B * K`` entries;
    this one returns the *mean*, like ``BCEWithLogitsLoss``, so that
    ``gamma_neg = gamma_pos = clip = 0`` gives exactly binary cross-entropy and
    learning rates carry over between the two. Multiply by ``B * K`` for the
    paper's scale. The focusing weights are differentiated through (the
    reference's ``disable_torch_grad_focal_loss=False``).
    """

    def __init__(
        self,
        gamma_neg: float = 4.0,
        gamma_pos: float = 1.0,
        clip: float = 0.05,
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        if gamma_neg < 0 or gamma_pos < 0:
            raise ValueError(
                f"AsymmetricLoss: gammas must be >= 0, got gamma_neg={gamma_neg}, "
                f"gamma_pos={gamma_pos}"
            )
        if not 0 <= clip < 1:
            raise ValueError(f"AsymmetricLoss: clip must be in [0, 1), got {clip}")
        self.gamma_neg = gamma_neg
        self.gamma_pos = gamma_pos
        self.clip = clip
        self.eps = eps

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """logits: (B, K), target: (B, K) 0/1 -> scalar."""
        y = target.to(logits.dtype)
        p = torch.sigmoid(logits)
        p_neg = (1 - p + self.clip).clamp(max=1)  # 1 - p_m
        loss_pos = y * (1 - p) ** self.gamma_pos * torch.log(p.clamp(min=self.eps))
        loss_neg = (1 - y) * (1 - p_neg) ** self.gamma_neg * torch.log(p_neg.clamp(min=self.eps))
        return -(loss_pos + loss_neg).mean()
