"""FCOSHead: shapes, initialisation and values against torchvision's FCOS head."""

from __future__ import annotations

import math

import pytest
import torch
from torchvision.models.detection.fcos import FCOSHead as TorchvisionFCOSHead

from component_library.heads.fcos_head import FCOSHead, FCOSOutput

STRIDES = [8, 16, 32]
SIZES = [(9, 12), (5, 6), (3, 3)]


def pyramid(channels: int, batch: int = 2) -> list[torch.Tensor]:
    return [torch.randn(batch, channels, h, w) for h, w in SIZES]


def test_default_head_shapes_and_prior() -> None:
    torch.manual_seed(0)
    head = FCOSHead(128, 5, STRIDES)
    outputs = head(pyramid(128))
    assert isinstance(outputs, FCOSOutput)
    for level, (h, w) in enumerate(SIZES):
        assert outputs.cls_logits[level].shape == (2, 5, h, w)
        assert outputs.box_regression[level].shape == (2, 4, h, w)
        assert outputs.centerness[level].shape == (2, 1, h, w)
        assert (outputs.box_regression[level] >= 0).all()
    # Small initial weights keep every logit near the bias, the 0.01 prior.
    logits = torch.cat([x.flatten() for x in outputs.cls_logits])
    assert (logits + math.log(99)).abs().max() < 1.5
    assert head.cls_logits.bias.tolist() == pytest.approx([-math.log(99)] * 5)


def test_values_match_torchvision_fcos_head() -> None:
    """Same weights: torchvision's (N, HW, K) logits, and its distances times the stride.

    torchvision's regression is relu(conv) in units of the anchor size (= the
    stride); ours is relu(scale * conv) * stride, the same with scale 1.
    """
    torch.manual_seed(0)
    channels, num_classes = 32, 3
    reference = TorchvisionFCOSHead(channels, 1, num_classes, num_convs=2)
    head = FCOSHead(channels, num_classes, STRIDES, num_convs=2)
    for ours, theirs in [
        (head.cls_tower, reference.classification_head.conv),
        (head.cls_logits, reference.classification_head.cls_logits),
        (head.reg_tower, reference.regression_head.conv),
        (head.box_regression, reference.regression_head.bbox_reg),
        (head.centerness, reference.regression_head.bbox_ctrness),
    ]:
        for parameter in theirs.parameters():  # random weights, so the test sees them
            torch.nn.init.normal_(parameter, std=0.1)
        ours.load_state_dict(theirs.state_dict())
    features = pyramid(channels)
    outputs = head(features)
    cls_logits = reference.classification_head(features)
    box_regression, centerness = reference.regression_head(features)
    strides = torch.cat(
        [torch.full((h * w, 1), s) for (h, w), s in zip(SIZES, STRIDES, strict=True)]
    )

    def flat(maps: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([m.flatten(2).transpose(1, 2) for m in maps], dim=1)

    torch.testing.assert_close(flat(outputs.cls_logits), cls_logits)
    torch.testing.assert_close(flat(outputs.box_regression), box_regression * strides)
    torch.testing.assert_close(flat(outputs.centerness), centerness)
    assert (box_regression > 0).any()


def test_level_scales_multiply_the_distances_before_the_relu() -> None:
    torch.manual_seed(0)
    head = FCOSHead(16, 2, STRIDES, num_groups=8)
    features = pyramid(16)
    before = head(features).box_regression
    with torch.no_grad():
        head.scales.copy_(torch.tensor([2.0, 0.5, -1.0]))
    after = head(features).box_regression
    torch.testing.assert_close(after[0], 2 * before[0])
    torch.testing.assert_close(after[1], 0.5 * before[1])
    # A negative scale flips the sign: only the distances that were 0 can become positive.
    assert (after[2][before[2] > 0] == 0).all()


def test_every_parameter_gets_gradients() -> None:
    torch.manual_seed(0)
    head = FCOSHead(16, 2, STRIDES, num_groups=8)
    with torch.no_grad():
        for conv in (head.cls_logits, head.box_regression, head.centerness):
            torch.nn.init.normal_(conv.weight, std=0.5)
            torch.nn.init.normal_(conv.bias, std=0.5)
    outputs = head(pyramid(16))
    sum(sum(m.square().mean() for m in maps) for maps in outputs).backward()
    for name, parameter in head.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_bad_arguments_name_the_problem() -> None:
    with pytest.raises(ValueError, match="num_groups=32 does not divide in_channels=48"):
        FCOSHead(48, 2, STRIDES)
    with pytest.raises(ValueError, match=r"prior must be in \(0, 1\)"):
        FCOSHead(32, 2, STRIDES, prior=1.0)
    with pytest.raises(ValueError, match="got 2 pyramid levels for 3 strides"):
        FCOSHead(32, 2, STRIDES)(pyramid(32)[:2])
