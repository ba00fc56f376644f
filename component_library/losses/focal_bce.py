"""Sigmoid focal loss (torchvision.ops) for multilabel data."""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.ops import sigmoid_focal_loss


class SigmoidFocalLoss(nn.Module):
    """Focal loss of Lin et al. 2017 with one sigmoid per label, via
    ``torchvision.ops.sigmoid_focal_loss``::

        loss = -alpha_t * (1 - p_t) ** gamma * log(p_t)

    where ``p_t`` is ``p`` for positives and ``1 - p`` for negatives, and
    ``alpha_t`` is ``alpha`` for positives and ``1 - alpha`` for negatives.

    Args:
        alpha: weight of the positives in ``[0, 1]``, or ``None`` for no
            positive/negative weighting.
        gamma: focusing exponent, ``>= 0``.

    Shapes: logits ``(B, K)``, target ``(B, K)`` of 0/1 (any dtype) -> scalar,
    the mean over all ``B * K`` entries.
    """

    def __init__(self, alpha: float | None = 0.25, gamma: float = 2.0) -> None:
        super().__init__()
        if alpha is not None and not 0 <= alpha <= 1:
            raise ValueError(f"SigmoidFocalLoss: alpha must be in [0, 1] or None, got {alpha}")
        if gamma < 0:
            raise ValueError(f"SigmoidFocalLoss: gamma must be >= 0, got {gamma}")
        self.alpha = alpha
        self.gamma = gamma

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """logits: (B, K), target: (B, K) 0/1 -> scalar."""
        return sigmoid_focal_loss(
            logits,
            target.to(logits.dtype),
            alpha=-1 if self.alpha is None else self.alpha,  # torchvision's "no alpha"
            gamma=self.gamma,
            reduction="mean",
        )
