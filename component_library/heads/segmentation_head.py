"""Segmentation head: a 1x1 conv classifier whose logits are upsampled to the input size."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class SegmentationHead(nn.Module):
    """Per-pixel classifier on a neck's fused map.

    Args:
        in_channels: channels of the neck's output map.
        num_classes: number of output classes.
        dropout: probability of zeroing whole channels (``nn.Dropout2d``) before
            the classifier, during training only.
    """

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(in_channels, num_classes, 1)

    def forward(self, x: Tensor, image_size: tuple[int, int]) -> Tensor:
        """x: (B, in_channels, h, w), image_size: (H, W) -> logits (B, num_classes, H, W).

        Every head takes ``(features, image_size)``. Upsampling the logits (not the
        features) keeps the full-resolution tensor at num_classes channels.
        """
        logits = self.classifier(self.dropout(x))
        return F.interpolate(logits, size=image_size, mode="bilinear", align_corners=False)
