"""Concatenated global average and max pooling."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AvgMaxPool(nn.Module):
    """Average and max over all spatial positions, concatenated (average first).

    Args:
        in_channels: Channels ``C`` of the input map; the output has ``2 * C``.
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.out_channels = 2 * in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (B, C, H, W)`` -> ``(B, 2 * C)``."""
        pooled = torch.cat((F.adaptive_avg_pool2d(x, 1), F.adaptive_max_pool2d(x, 1)), dim=1)
        return pooled.flatten(1)
