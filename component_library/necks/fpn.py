"""Feature Pyramid Network neck that fuses the pyramid into one stride-4 map.

The pyramid is the one of Lin et al., "Feature Pyramid Networks for Object
Detection" (2017): a 1x1 lateral conv per level and a top-down pathway of
nearest upsampling and addition, then a 3x3 conv-bn-relu on each level. As in
the semantic FPN of Kirillov et al., "Panoptic Feature Pyramid Networks"
(2019), every level is then upsampled bilinearly to the finest one and summed.

Maps finer than stride 4 (the stride-2 stem output of ResNet, EfficientNet or
HRNet) are ignored: the output stride is the finest backbone stride >= 4,
which is 4 for every timm family okgen offers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from timm.layers import ConvNormAct
from torch import Tensor, nn

# Finer maps cost much memory at full width and add little over stride 4.
MIN_STRIDE = 4


class FPN(nn.Module):
    """FPN over the backbone maps at stride >= 4, fused into one map.

    Args:
        in_channels: channels of each backbone map, finest first.
        strides: stride of each backbone map, ascending.
        channels: width of the pyramid and of the fused output map.
    """

    def __init__(self, in_channels: Sequence[int], strides: Sequence[int], channels: int = 128):
        super().__init__()
        self.indices = [i for i, stride in enumerate(strides) if stride >= MIN_STRIDE]
        if not self.indices:
            raise ValueError(
                f"fpn.py: no feature map at stride >= {MIN_STRIDE}, got {list(strides)}"
            )
        self.lateral = nn.ModuleList(nn.Conv2d(in_channels[i], channels, 1) for i in self.indices)
        self.smooth = nn.ModuleList(ConvNormAct(channels, channels, 3) for _ in self.indices)
        self.out_channels = [channels]
        self.strides = [strides[self.indices[0]]]

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        """features[i]: (B, in_channels[i], H/s_i, W/s_i) -> [(B, channels, H/s, W/s)].

        s is ``self.strides[0]``; the output has the exact size of the input map at s.
        """
        laterals = [conv(features[i]) for conv, i in zip(self.lateral, self.indices, strict=True)]
        for level in range(len(laterals) - 2, -1, -1):
            coarser = F.interpolate(
                laterals[level + 1], size=laterals[level].shape[-2:], mode="nearest"
            )
            laterals[level] = laterals[level] + coarser
        size = laterals[0].shape[-2:]
        fused = sum(
            F.interpolate(smooth(x), size=size, mode="bilinear", align_corners=False)
            for smooth, x in zip(self.smooth, laterals, strict=True)
        )
        return [fused]
