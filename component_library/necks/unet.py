"""U-Net decoder neck (Ronneberger et al., 2015), as in segmentation_models_pytorch.

Starting from the deepest backbone map, each block upsamples to the exact size
of the next finer map (so inputs whose size is not a multiple of 32 work),
concatenates that skip connection and applies two 3x3 conv-bn-relu. The
output is at the finest backbone stride.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from timm.layers import ConvNormAct
from torch import Tensor, nn


class UNetDecoder(nn.Module):
    """U-Net decoder over every backbone map.

    Args:
        in_channels: channels of each backbone map, finest first.
        strides: stride of each backbone map, ascending.
        decoder_channels: output channels of each decoder block, deepest block
            first; one per skip, i.e. ``len(in_channels) - 1`` values. Defaults
            to 256, 128, 64, ... halving at every block.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        strides: Sequence[int],
        decoder_channels: Sequence[int] | None = None,
    ):
        super().__init__()
        num_blocks = len(in_channels) - 1
        if num_blocks < 1:
            raise ValueError(f"unet.py: needs at least two feature maps, got {len(in_channels)}")
        if decoder_channels is None:
            decoder_channels = [max(256 // 2**i, 16) for i in range(num_blocks)]
        if len(decoder_channels) != num_blocks:
            raise ValueError(
                f"unet.py: decoder_channels needs {num_blocks} values (one per skip), "
                f"got {list(decoder_channels)}"
            )
        blocks = []
        previous = in_channels[-1]
        for skip, channels in zip(in_channels[-2::-1], decoder_channels, strict=True):
            blocks.append(
                nn.Sequential(
                    ConvNormAct(previous + skip, channels, 3), ConvNormAct(channels, channels, 3)
                )
            )
            previous = channels
        self.blocks = nn.ModuleList(blocks)
        self.out_channels = [decoder_channels[-1]]
        self.strides = [min(strides)]

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        """features[i]: (B, in_channels[i], H/s_i, W/s_i) -> [(B, out_channels[0], H/s_0, W/s_0)].

        s_0 is the finest stride; the output has the exact size of features[0].
        """
        x = features[-1]
        for block, skip in zip(self.blocks, features[-2::-1], strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
            x = block(torch.cat([x, skip], dim=1))
        return [x]
