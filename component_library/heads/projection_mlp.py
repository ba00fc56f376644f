"""The MLP projection head of contrastive self-supervised learning (SimCLR)."""

from __future__ import annotations

import torch
from torch import nn


class ProjectionMLP(nn.Module):
    """``num_layers`` linear layers; every one but the last is followed by BatchNorm and ReLU.

    SimCLR v1's head is the default: ``Linear(C, C) -> BatchNorm1d -> ReLU -> Linear(C, 128)``.
    Hidden linears have no bias (the BatchNorm that follows has one). The loss sees the
    projections; downstream tasks use the features before this head.

    Args:
        in_channels: Size ``C`` of the pooled feature vector.
        out_dim: Size ``D`` of the projection.
        hidden_dim: Width of the hidden layers; ``None`` for ``in_channels``.
        num_layers: Number of linear layers, >= 1 (1 is a plain linear projection).

    Attributes:
        out_channels: ``D``, the size of the projection.
    """

    def __init__(
        self,
        in_channels: int,
        out_dim: int = 128,
        hidden_dim: int | None = None,
        num_layers: int = 2,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"ProjectionMLP: num_layers must be >= 1, got {num_layers}")
        hidden_dim = in_channels if hidden_dim is None else hidden_dim
        layers: list[nn.Module] = []
        width = in_channels
        for _ in range(num_layers - 1):
            layers += [
                nn.Linear(width, hidden_dim, bias=False),
                nn.BatchNorm1d(hidden_dim),
                nn.ReLU(inplace=True),
            ]
            width = hidden_dim
        layers.append(nn.Linear(width, out_dim))
        self.layers = nn.Sequential(*layers)
        self.out_channels = out_dim

    def forward(self, x: torch.Tensor, image_size: tuple[int, int] | None = None) -> torch.Tensor:
        """``x: (B, C)`` -> projections ``(B, D)``; BatchNorm needs ``B > 1`` in training.

        ``image_size`` is ignored: every head takes ``(features, image_size)``, so a
        model calls vector and map heads alike.
        """
        return self.layers(x)
