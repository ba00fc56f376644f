"""Binary cross-entropy on logits, one independent sigmoid per label."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class BCEWithLogitsLoss(nn.Module):
    """Multilabel binary cross-entropy, a thin module over
    ``F.binary_cross_entropy_with_logits``.

    Args:
        pos_weight: optional weight of the positive term per label (length
            ``K``); ``> 1`` raises recall on that label.

    Shapes: logits ``(B, K)``, target ``(B, K)`` of 0/1 (any dtype) -> scalar,
    the mean over all ``B * K`` entries.
    """

    pos_weight: Tensor | None

    def __init__(self, pos_weight: Sequence[float] | None = None) -> None:
        super().__init__()
        # A buffer, so the weights follow the module to the logits' device.
        self.register_buffer(
            "pos_weight",
            None if pos_weight is None else torch.tensor(pos_weight, dtype=torch.float32),
        )

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """logits: (B, K), target: (B, K) 0/1 -> scalar."""
        return F.binary_cross_entropy_with_logits(
            logits, target.to(logits.dtype), pos_weight=self.pos_weight
        )
