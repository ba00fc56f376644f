"""One model of each timm family that once broke TimmBackbone, through every okgen path.

The opt-in sweep (``pytest -m slow tests/sweep``) runs the same check over timm's
registry; these few run by default, at the smallest sizes their contracts allow.
"""

from __future__ import annotations

import pytest

from tests.sweep.timm_check import check_model

# model, size asked, size its input-size contract makes the check use
FAMILIES = [
    # feature names nested two levels under a flattened child ("blocks.0.stack.act3")
    ("xception41", 64, 64),
    # bottleneck attention in 8x8 blocks at stride 32: multiples of 256 only
    ("bat_resnext26ts", 64, 256),
    # patch embedding and position table built for 224, used at 48 (dynamic_img_size)
    ("vit_tiny_patch16_224", 48, 48),
    # windows of 7 built for 224, used at 96 (3x3 at stride 32); 64 is in test_backbone.py
    ("swin_tiny_patch4_window7_224", 96, 96),
    # attention biases sized at creation, deepest stride 64
    ("levit_128s", 64, 64),
]


@pytest.mark.parametrize(("model_name", "asked", "used"), FAMILIES)
def test_family_builds_and_trains_through_necks_and_pooling(
    model_name: str, asked: int, used: int
) -> None:
    assert check_model(model_name, asked) == used
