"""Generalized-mean (GeM) pooling with a learnable exponent.

GeM computes ``(mean(x ** p)) ** (1 / p)`` over all spatial positions: ``p = 1``
is average pooling and large ``p`` approaches max pooling (Radenovic et al.,
"Fine-tuning CNN Image Retrieval with No Human Annotation", 2018).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GeM(nn.Module):
    """Generalized-mean pooling; ``p`` is learned with the rest of the model.

    Args:
        in_channels: Channels ``C`` of the input map.
        p: Initial exponent, > 0 (3 is the usual choice).
        eps: Inputs are clamped to at least ``eps`` so that ``x ** p`` is defined.
    """

    def __init__(self, in_channels: int, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        if p <= 0:
            raise ValueError(f"GeM: p must be > 0, got {p}")
        self.out_channels = in_channels
        self.p = nn.Parameter(torch.tensor([float(p)]))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (B, C, H, W)`` -> ``(B, C)``."""
        pooled = F.adaptive_avg_pool2d(x.clamp(min=self.eps).pow(self.p), 1)
        return pooled.pow(1.0 / self.p).flatten(1)
