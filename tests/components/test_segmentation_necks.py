"""Segmentation necks (`output: map`): shapes, gradients and end-to-end use with a head."""

from __future__ import annotations

import math

import pytest
import timm
import torch
import torch.nn.functional as F

from component_library.heads.segmentation_head import SegmentationHead
from component_library.necks.fpn import FPN
from component_library.necks.hrnet_concat import HRNetConcat
from component_library.necks.unet import UNetDecoder

from .catalogue import entries, load

MAP_NECKS = [name for name, entry in entries("necks").items() if entry["output"] == "map"]

# (channels, strides) of timm features_only models, checked against timm below.
LAYOUTS: dict[str, tuple[list[int], list[int]]] = {
    "resnet18": ([64, 64, 128, 256, 512], [2, 4, 8, 16, 32]),
    "resnet50": ([64, 256, 512, 1024, 2048], [2, 4, 8, 16, 32]),
    "efficientnet_b0": ([16, 24, 40, 112, 320], [2, 4, 8, 16, 32]),
    "semnasnet_100": ([16, 24, 40, 112, 320], [2, 4, 8, 16, 32]),
    "convnext_atto": ([40, 80, 160, 320], [4, 8, 16, 32]),
    "hrnet_w18_small": ([64, 128, 256, 512, 1024], [2, 4, 8, 16, 32]),
    "swin_tiny_patch4_window7_224": ([96, 192, 384, 768], [4, 8, 16, 32]),
    "davit_tiny": ([96, 192, 384, 768], [4, 8, 16, 32]),
}

# Not multiples of 32, and ceil and floor rounding give different sizes.
HEIGHT, WIDTH = 70, 90


def test_layouts_cover_the_catalogue_backbones() -> None:
    assert set(LAYOUTS) == set(entries("backbone_models"))


@pytest.mark.parametrize("model_name", LAYOUTS)
def test_layouts_match_timm(model_name: str) -> None:
    with torch.device("meta"):  # no weights are allocated: only feature_info is read
        model = timm.create_model(model_name, features_only=True, pretrained=False)
    channels, strides = LAYOUTS[model_name]
    assert model.feature_info.channels() == channels
    assert model.feature_info.reduction() == strides


def feature_maps(model_name: str, rounding) -> list[torch.Tensor]:
    """Random maps shaped like a backbone's for one HEIGHT x WIDTH image.

    Convolutions with padding round sizes up (ResNet), patch embeddings and
    k=2 s=2 downsamplings round down (ConvNeXt); necks must take both.
    """
    channels, strides = LAYOUTS[model_name]
    return [
        torch.randn(1, c, rounding(HEIGHT / s), rounding(WIDTH / s), requires_grad=True)
        for c, s in zip(channels, strides, strict=True)
    ]


@pytest.mark.parametrize("rounding", [math.ceil, math.floor], ids=["ceil", "floor"])
@pytest.mark.parametrize("model_name", LAYOUTS)
@pytest.mark.parametrize("neck_name", MAP_NECKS)
def test_neck_shapes_and_gradients(neck_name: str, model_name: str, rounding) -> None:
    torch.manual_seed(0)
    channels, strides = LAYOUTS[model_name]
    neck = load("necks", neck_name)(channels, strides)
    features = feature_maps(model_name, rounding)

    outputs = neck(features)

    assert len(outputs) == len(neck.out_channels) == len(neck.strides) == 1
    (stride,) = neck.strides
    assert stride in strides
    expected = (1, neck.out_channels[0], rounding(HEIGHT / stride), rounding(WIDTH / stride))
    assert outputs[0].shape == expected
    # A random projection: the gradient of a plain sum through batch norm is zero.
    (outputs[0] * torch.randn_like(outputs[0])).sum().backward()
    for feature, feature_stride in zip(features, strides, strict=True):
        if feature_stride >= stride:
            assert feature.grad is not None and feature.grad.abs().sum() > 0
        else:
            assert feature.grad is None


def test_fpn_and_hrnet_output_channels_at_stride_4() -> None:
    channels, strides = LAYOUTS["resnet18"]
    for neck in (FPN(channels, strides, channels=32), HRNetConcat(channels, strides)):
        assert neck.strides == [4]
    assert FPN(channels, strides, channels=32).out_channels == [32]
    assert HRNetConcat(channels, strides).out_channels == [sum(channels[1:])]
    assert HRNetConcat(channels, strides, channels=48).out_channels == [48]


def test_hrnet_concat_without_projection_is_the_upsampled_concatenation() -> None:
    channels, strides = LAYOUTS["convnext_atto"]
    features = feature_maps("convnext_atto", math.floor)
    size = features[0].shape[-2:]

    (output,) = HRNetConcat(channels, strides)(features)

    upsampled = [F.interpolate(f, size, mode="bilinear", align_corners=False) for f in features]
    torch.testing.assert_close(output, torch.cat(upsampled, dim=1))


def test_unet_ends_at_the_finest_stride_with_its_decoder_channels() -> None:
    channels, strides = LAYOUTS["resnet18"]
    assert UNetDecoder(channels, strides).out_channels == [32]
    neck = UNetDecoder(channels, strides, decoder_channels=[40, 30, 20, 10])
    assert (neck.out_channels, neck.strides) == ([10], [2])
    (output,) = neck(feature_maps("resnet18", math.ceil))
    assert output.shape == (1, 10, math.ceil(HEIGHT / 2), math.ceil(WIDTH / 2))


def test_default_widths() -> None:
    channels, strides = LAYOUTS["resnet18"]
    fpn = FPN(channels, strides)
    assert fpn.out_channels == [128]
    assert [conv.out_channels for conv in fpn.lateral] == [128] * 4
    unet = UNetDecoder(channels, strides)
    assert [block[1].conv.out_channels for block in unet.blocks] == [256, 128, 64, 32]
    deep = UNetDecoder([8] * 7, [1, 2, 4, 8, 16, 32, 64])
    assert [block[1].conv.out_channels for block in deep.blocks] == [256, 128, 64, 32, 16, 16]


def test_unet_rejects_a_wrong_number_of_decoder_channels() -> None:
    channels, strides = LAYOUTS["convnext_atto"]
    with pytest.raises(ValueError, match="decoder_channels"):
        UNetDecoder(channels, strides, decoder_channels=[64, 32])
    with pytest.raises(ValueError, match="two feature maps"):
        UNetDecoder([64], [32])


@pytest.mark.parametrize("neck_cls", [FPN, HRNetConcat])
def test_stride_4_necks_reject_backbones_without_such_a_map(neck_cls) -> None:
    with pytest.raises(ValueError, match="stride >= 4"):
        neck_cls([64], [2])


@pytest.mark.parametrize("neck_name", MAP_NECKS)
def test_resnet18_neck_head_end_to_end(neck_name: str) -> None:
    torch.manual_seed(0)
    backbone = timm.create_model("resnet18", features_only=True, pretrained=False)
    info = backbone.feature_info
    neck = load("necks", neck_name)(info.channels(), info.reduction())
    head = SegmentationHead(neck.out_channels[0], num_classes=3, dropout=0.1)
    images = torch.randn(2, 3, 72, 88)

    logits = head(neck(backbone(images))[0], images.shape[-2:])

    assert logits.shape == (2, 3, 72, 88)
    logits.logsumexp(dim=1).mean().backward()
    for module in (backbone, neck, head):
        assert all(p.grad is not None for p in module.parameters())
    assert backbone.conv1.weight.grad.abs().sum() > 0
