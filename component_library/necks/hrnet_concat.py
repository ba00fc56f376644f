"""HRNetV2-style neck (Sun et al., 2019): upsample every scale and concatenate.

Every backbone map at stride >= 4 is upsampled bilinearly to the finest of
them and the maps are concatenated along channels, optionally followed by a
1x1 conv-bn-relu projection. Finer maps (the stride-2 stem output of HRNet,
ResNet or EfficientNet) are ignored, as in HRNetV2, whose segmentation head
works at stride 4: a full-width concat at stride 2 would cost 4x the memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from timm.layers import ConvNormAct
from torch import Tensor, nn

MIN_STRIDE = 4


class HRNetConcat(nn.Module):
    """Concatenation of the backbone maps at stride >= 4, at the finest of them.

    Args:
        in_channels: channels of each backbone map, finest first.
        strides: stride of each backbone map, ascending.
        channels: if set, project the concatenation to this many channels with
            a 1x1 conv-bn-relu; otherwise output the concatenation as is.
    """

    def __init__(
        self, in_channels: Sequence[int], strides: Sequence[int], channels: int | None = None
    ):
        super().__init__()
        self.indices = [i for i, stride in enumerate(strides) if stride >= MIN_STRIDE]
        if not self.indices:
            raise ValueError(
                f"hrnet_concat.py: no feature map at stride >= {MIN_STRIDE}, got {list(strides)}"
            )
        concat_channels = sum(in_channels[i] for i in self.indices)
        if channels is None:
            self.project = nn.Identity()
            self.out_channels = [concat_channels]
        else:
            self.project = ConvNormAct(concat_channels, channels, 1)
            self.out_channels = [channels]
        self.strides = [strides[self.indices[0]]]

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        """features[i]: (B, in_channels[i], H/s_i, W/s_i) -> [(B, out_channels[0], H/s, W/s)].

        s is ``self.strides[0]``; the output has the exact size of the input map at s.
        """
        maps = [features[i] for i in self.indices]
        size = maps[0].shape[-2:]
        upsampled = [
            F.interpolate(x, size=size, mode="bilinear", align_corners=False) for x in maps[1:]
        ]
        return [self.project(torch.cat([maps[0], *upsampled], dim=1))]
