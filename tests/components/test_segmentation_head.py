"""Segmentation head (`input: map`): exact output size and the reference formula."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from .catalogue import entries, load

MAP_HEADS = [name for name, entry in entries("heads").items() if entry["input"] == "map"]


@pytest.mark.parametrize("output_size", [(72, 88), (70, 90), (17, 23), (33, 1)])
@pytest.mark.parametrize("head_name", MAP_HEADS)
def test_head_returns_logits_at_the_requested_size(head_name: str, output_size) -> None:
    head = load("heads", head_name)(in_channels=8, num_classes=5)
    x = torch.randn(2, 8, 18, 23, requires_grad=True)

    logits = head(x, output_size)

    assert logits.shape == (2, 5, *output_size)
    logits.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_segmentation_head_is_a_1x1_conv_then_bilinear_upsampling() -> None:
    head = load("heads", "segmentation")(in_channels=8, num_classes=4, dropout=0.5).eval()
    x = torch.randn(2, 8, 9, 11)
    conv = head.classifier

    expected = F.interpolate(
        F.conv2d(x, conv.weight, conv.bias), size=(35, 43), mode="bilinear", align_corners=False
    )

    torch.testing.assert_close(head(x, (35, 43)), expected)


def test_segmentation_head_dropout_zeroes_whole_channels_in_training() -> None:
    torch.manual_seed(0)
    head = load("heads", "segmentation")(in_channels=64, num_classes=1, dropout=0.5).train()
    with torch.no_grad():
        head.classifier.weight.fill_(1.0)
        head.classifier.bias.zero_()
    x = torch.ones(1, 64, 4, 4)

    logits = head(x, (4, 4))

    # Surviving channels are scaled by 1 / (1 - p) = 2, so every pixel sums the same channels.
    kept = logits[0, 0, 0, 0].item()
    assert kept % 2 == 0 and 0 < kept < 128
    torch.testing.assert_close(logits, torch.full_like(logits, kept))
