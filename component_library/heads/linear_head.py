"""A linear classifier on a pooled feature vector, with dropout and an optional hidden layer."""

from __future__ import annotations

import torch
from torch import nn


class LinearHead(nn.Module):
    """Dropout and a linear layer; with ``hidden_dim``, first a linear + ReLU hidden layer.

    Args:
        in_channels: Size ``C`` of the pooled feature vector.
        num_classes: Number of output logits.
        hidden_dim: Width of the optional hidden layer; ``None`` for none.
        dropout: Dropout probability before each linear layer (inactive in eval).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        hidden_dim: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if hidden_dim is not None:
            layers += [nn.Dropout(dropout), nn.Linear(in_channels, hidden_dim), nn.ReLU()]
            in_channels = hidden_dim
        layers += [nn.Dropout(dropout), nn.Linear(in_channels, num_classes)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, image_size: tuple[int, int] | None = None) -> torch.Tensor:
        """``x: (B, C)`` -> logits ``(B, num_classes)``.

        ``image_size`` is ignored: every head takes ``(features, image_size)``, so a
        model calls vector and map heads alike.
        """
        return self.layers(x)
