"""A neck that passes the backbone's feature maps through unchanged."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class IdentityNeck(nn.Module):
    """Returns the backbone features as they are, for heads that pool the last one.

    Args:
        in_channels: Channels ``C_i`` of each backbone feature map.
        strides: Stride ``s_i`` of each backbone feature map.
    """

    def __init__(self, in_channels: Sequence[int], strides: Sequence[int]) -> None:
        super().__init__()
        self.out_channels: list[int] = list(in_channels)
        self.strides: list[int] = list(strides)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """``[(B, C_i, H / s_i, W / s_i)]`` -> the same list."""
        return features
