"""FeaturePyramid neck (`output: pyramid`): levels, strides, shapes and gradients on timm."""

from __future__ import annotations

import math

import pytest
import torch

from component_library.backbones.timm_backbone import TimmBackbone
from component_library.necks.fpn_pyramid import FeaturePyramid

# Not multiples of 32, so ceil (ResNet, EfficientNet) and floor (ConvNeXt) rounding differ.
HEIGHT, WIDTH = 70, 90


@pytest.fixture(scope="module", params=["resnet18", "convnext_atto", "efficientnet_b0"])
def backbone(request: pytest.FixtureRequest) -> TimmBackbone:
    torch.manual_seed(0)
    return TimmBackbone(request.param).eval()


@pytest.mark.parametrize("extra_levels", [0, 2])
def test_levels_match_the_backbone_strides(backbone: TimmBackbone, extra_levels: int) -> None:
    neck = FeaturePyramid(backbone.out_channels, backbone.strides, extra_levels=extra_levels)
    assert neck.strides == [8, 16, 32, 64, 128][: 3 + extra_levels]
    assert neck.out_channels == [128] * (3 + extra_levels)
    image = torch.randn(2, 3, HEIGHT, WIDTH)
    features = backbone(image)
    sizes = {s: f.shape[-2:] for s, f in zip(backbone.strides, features, strict=True)}
    outputs = neck(features)
    assert len(outputs) == len(neck.strides)
    for output, stride in zip(outputs, neck.strides, strict=True):
        if stride <= 32:  # a backbone level keeps its map's exact size
            expected = sizes[stride]
        else:  # an extra level halves the previous one, rounding up (3x3, stride 2, pad 1)
            previous = outputs[neck.strides.index(stride // 2)].shape[-2:]
            expected = torch.Size(math.ceil(n / 2) for n in previous)
        assert output.shape == (2, 128, *expected)


def test_every_parameter_and_input_map_gets_gradients(backbone: TimmBackbone) -> None:
    neck = FeaturePyramid(backbone.out_channels, backbone.strides, channels=32, extra_levels=2)
    features = [f.detach().requires_grad_() for f in backbone(torch.randn(1, 3, HEIGHT, WIDTH))]
    sum(output.square().mean() for output in neck(features)).backward()
    for name, parameter in neck.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    for feature, stride in zip(features, backbone.strides, strict=True):
        # Maps finer than stride 8 are not used.
        assert (feature.grad is not None) == (stride >= 8)


def test_top_down_pathway_against_a_direct_computation() -> None:
    torch.manual_seed(0)
    neck = FeaturePyramid([4, 6, 8], [8, 16, 32], channels=5, extra_levels=1)
    features = [torch.randn(1, c, 16 // 2**i, 12 // 2**i) for i, c in enumerate([4, 6, 8])]

    def upsample(x: torch.Tensor) -> torch.Tensor:  # nearest, by exactly 2
        return x.repeat_interleave(2, 2).repeat_interleave(2, 3)

    p5_lateral = neck.lateral[2](features[2])
    p4_lateral = neck.lateral[1](features[1]) + upsample(p5_lateral)
    p3_lateral = neck.lateral[0](features[0]) + upsample(p4_lateral)
    expected = [neck.output[i](x) for i, x in enumerate([p3_lateral, p4_lateral, p5_lateral])]
    expected.append(neck.extra[0](expected[-1]))
    for output, reference in zip(neck(features), expected, strict=True):
        torch.testing.assert_close(output, reference)


def test_repeated_strides_use_the_deepest_map_and_finer_ones_are_dropped() -> None:
    neck = FeaturePyramid([3, 4, 5, 6, 7], [4, 16, 16, 16, 32])
    assert neck.indices == [3, 4] and neck.strides == [16, 32]


def test_bad_arguments_name_the_problem() -> None:
    with pytest.raises(ValueError, match="no feature map at stride >= 8"):
        FeaturePyramid([16, 24], [2, 4])
    with pytest.raises(ValueError, match="extra_levels must be >= 0"):
        FeaturePyramid([16, 24], [8, 16], extra_levels=-1)
