"""FCOS head (Tian et al., "FCOS: Fully Convolutional One-Stage Object Detection", 2019).

Two towers of 3x3 conv + GroupNorm + ReLU, shared by every pyramid level, feed
a classifier (one sigmoid logit per class), a box regressor (distances from
the point to the left, top, right and bottom sides of its box) and a
centerness logit, which sits on the regression tower as in the improved FCOS
and torchvision's. Distances are ``relu(scale_l * x) * stride_l`` with one
learnable ``scale_l`` per level, so they come out in input pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class FCOSOutput(NamedTuple):
    """Raw per-level outputs; level ``l`` has the size ``(H_l, W_l)`` of its pyramid map."""

    cls_logits: list[Tensor]
    """``(B, K, H_l, W_l)`` per level: one sigmoid logit per class."""
    box_regression: list[Tensor]
    """``(B, 4, H_l, W_l)`` per level: ltrb distances in input pixels, >= 0."""
    centerness: list[Tensor]
    """``(B, 1, H_l, W_l)`` per level: centerness logit."""


class FCOSHead(nn.Module):
    """FCOS classification, box and centerness predictor over a feature pyramid.

    Args:
        in_channels: channels of every pyramid level (the neck's common width).
        num_classes: number of object classes ``K`` (no background class).
        strides: stride of each pyramid level, finest first.
        num_convs: 3x3 conv layers in each tower.
        num_groups: GroupNorm groups; must divide ``in_channels``.
        prior: initial foreground probability of every class logit, so the
            many background points do not swamp the first steps of the focal loss.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        strides: Sequence[int],
        num_convs: int = 4,
        num_groups: int = 32,
        prior: float = 0.01,
    ) -> None:
        super().__init__()
        if in_channels % num_groups:
            raise ValueError(
                f"fcos_head.py: num_groups={num_groups} does not divide in_channels={in_channels}"
            )
        if not 0 < prior < 1:
            raise ValueError(f"fcos_head.py: prior must be in (0, 1), got {prior}")
        self.strides = list(strides)
        self.cls_tower = _tower(in_channels, num_convs, num_groups)
        self.reg_tower = _tower(in_channels, num_convs, num_groups)
        self.cls_logits = nn.Conv2d(in_channels, num_classes, 3, padding=1)
        self.box_regression = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.centerness = nn.Conv2d(in_channels, 1, 3, padding=1)
        self.scales = nn.Parameter(torch.ones(len(self.strides)))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.zeros_(module.bias)
        nn.init.constant_(self.cls_logits.bias, -math.log((1 - prior) / prior))

    def forward(self, features: list[Tensor]) -> FCOSOutput:
        """features[l]: (B, in_channels, H_l, W_l), one per stride -> ``FCOSOutput``."""
        if len(features) != len(self.strides):
            raise ValueError(
                f"fcos_head.py: got {len(features)} pyramid levels for {len(self.strides)} strides"
            )
        cls_logits, box_regression, centerness = [], [], []
        for level, (x, stride) in enumerate(zip(features, self.strides, strict=True)):
            cls_logits.append(self.cls_logits(self.cls_tower(x)))
            reg = self.reg_tower(x)
            box_regression.append(F.relu(self.scales[level] * self.box_regression(reg)) * stride)
            centerness.append(self.centerness(reg))
        return FCOSOutput(cls_logits, box_regression, centerness)


def _tower(channels: int, num_convs: int, num_groups: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(num_convs):
        layers += [
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.GroupNorm(num_groups, channels),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)
