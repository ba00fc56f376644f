"""Feature Pyramid Network neck that keeps the pyramid: one map per level for detection.

The pyramid is the one of Lin et al., "Feature Pyramid Networks for Object
Detection" (2017): a 1x1 lateral conv per backbone map from stride 8 up, a
top-down pathway of nearest upsampling and addition, then a 3x3 conv on each
level. As in RetinaNet and FCOS, ``extra_levels`` coarser levels (P6, P7) can be
added on top by 3x3 stride-2 convs, the first one on the coarsest output level
and each further one after a ReLU.

With a timm backbone whose maps reach stride 32 the output is P3-P5 at strides
8, 16, 32 (and 64, 128 with two extra levels). Backbone maps that repeat a
stride (ViT) count once: the deepest map at that stride is used.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

# P3: finer maps multiply the detector's cost and add little for the objects it finds.
MIN_STRIDE = 8


class FeaturePyramid(nn.Module):
    """FPN over the backbone maps at stride >= 8, one output map per level.

    Args:
        in_channels: channels of each backbone map, finest first.
        strides: stride of each backbone map, ascending.
        channels: width of every output level.
        extra_levels: coarser levels added by stride-2 convs on top of the
            coarsest backbone level (2 gives FCOS's P6 and P7).

    Attributes:
        out_channels: ``channels`` for each output level.
        strides: stride of each output level, finest first.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        strides: Sequence[int],
        channels: int = 128,
        extra_levels: int = 0,
    ) -> None:
        super().__init__()
        if extra_levels < 0:
            raise ValueError(f"fpn_pyramid.py: extra_levels must be >= 0, got {extra_levels}")
        # The last (deepest) map of each stride >= MIN_STRIDE, by ascending stride.
        deepest = {stride: i for i, stride in enumerate(strides) if stride >= MIN_STRIDE}
        if not deepest:
            raise ValueError(
                f"fpn_pyramid.py: no feature map at stride >= {MIN_STRIDE}, got {list(strides)}"
            )
        self.indices = [deepest[stride] for stride in sorted(deepest)]
        self.lateral = nn.ModuleList(nn.Conv2d(in_channels[i], channels, 1) for i in self.indices)
        self.output = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=1) for _ in self.indices
        )
        self.extra = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, stride=2, padding=1) for _ in range(extra_levels)
        )
        coarsest = strides[self.indices[-1]]
        self.strides = [strides[i] for i in self.indices] + [
            coarsest * 2 ** (level + 1) for level in range(extra_levels)
        ]
        self.out_channels = [channels] * len(self.strides)

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        """features[i]: (B, in_channels[i], H/s_i, W/s_i) -> [(B, channels, H/s, W/s)] per level.

        The levels come finest first with strides ``self.strides``; each backbone
        level keeps the exact size of its input map, and each extra level is
        ``ceil`` of half the previous one.
        """
        laterals = [conv(features[i]) for conv, i in zip(self.lateral, self.indices, strict=True)]
        for level in range(len(laterals) - 2, -1, -1):
            coarser = F.interpolate(
                laterals[level + 1], size=laterals[level].shape[-2:], mode="nearest"
            )
            laterals[level] = laterals[level] + coarser
        outputs = [conv(x) for conv, x in zip(self.output, laterals, strict=True)]
        for number, conv in enumerate(self.extra):
            previous = outputs[-1] if number == 0 else F.relu(outputs[-1])
            outputs.append(conv(previous))
        return outputs
