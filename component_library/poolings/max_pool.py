"""Global max pooling."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaxPool(nn.Module):
    """Maximum over all spatial positions.

    Args:
        in_channels: Channels ``C`` of the input map.
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.out_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (B, C, H, W)`` -> ``(B, C)``."""
        return F.adaptive_max_pool2d(x, 1).flatten(1)
