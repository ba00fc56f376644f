"""Input-size contracts, checked against what timm declares and what the models run at."""

from __future__ import annotations

import pytest
import timm
import torch

from component_library.backbones.input_size import InputSizeContract, input_size_contract
from component_library.backbones.timm_backbone import TimmBackbone


def test_cnn_takes_multiples_of_its_deepest_stride() -> None:
    contract = input_size_contract("resnet18")
    stride = max(f["reduction"] for f in timm.create_model("resnet18").feature_info)
    assert (contract.multiple_of, contract.min_size, contract.fixed) == (stride, stride, None)
    assert contract.size_arguments == () and contract.probed
    assert contract.check(96) is None and contract.check(32) is None
    assert contract.check(100) == (
        "resnet18 takes image sizes that are multiples of 32 from 32 on (e.g. 96 or 128), not 100"
    )
    assert contract.check(16) is not None
    assert contract.create_kwargs(96) == {}


def test_undeclared_block_constraint_is_found_by_probing() -> None:
    # bat_resnext26ts declares min_input_size 256 and stride 32, but its bilinear attention
    # splits the stride-32 map into 8x8 blocks: only multiples of 32 * 8 = 256 run.
    contract = input_size_contract("bat_resnext26ts")
    assert (contract.multiple_of, contract.min_size) == (256, 256)
    assert contract.size_arguments == ("img_size",)
    model = timm.create_model("bat_resnext26ts", features_only=True, img_size=288).eval()
    with pytest.raises(AssertionError), torch.no_grad():
        model(torch.randn(1, 3, 288, 288))
    with pytest.raises(ValueError, match=r"^backbone: bat_resnext26ts .* multiples of 256 .*288$"):
        TimmBackbone("bat_resnext26ts", img_size=288)


def test_vision_transformer_is_built_for_the_size_and_takes_others_at_run_time() -> None:
    contract = input_size_contract("vit_tiny_patch16_224")
    assert contract.size_arguments == ("img_size", "dynamic_img_size")
    assert (contract.multiple_of, contract.min_size, contract.fixed) == (16, 16, None)
    assert contract.create_kwargs(48) == {"img_size": 48, "dynamic_img_size": True}
    assert contract.create_kwargs(None) == {}
    backbone = TimmBackbone("vit_tiny_patch16_224", img_size=48)
    for size in (48, 80):
        features = backbone(torch.randn(1, 3, size, size))
        assert [f.shape for f in features] == [(1, 192, size // 16, size // 16)] * 3


def test_model_that_only_runs_at_its_default_size_is_fixed() -> None:
    contract = input_size_contract("crossvit_tiny_240")
    assert contract.fixed == 240 == timm.get_pretrained_cfg("crossvit_tiny_240").input_size[-1]
    assert contract.check(240) is None
    assert contract.check(224) == "crossvit_tiny_240 only takes 240x240 images, not 224"
    with pytest.raises(ValueError, match=r"^backbone: crossvit_tiny_240 only takes 240x240"):
        TimmBackbone("crossvit_tiny_240", img_size=224)


def test_contract_rules_without_a_model() -> None:
    contract = InputSizeContract("m", multiple_of=64, min_size=128)
    assert [s for s in range(0, 400, 32) if contract.works(s)] == [128, 192, 256, 320, 384]
    assert (
        contract.check(64) == "m takes image sizes that are multiples of 64 from 128 on "
        "(e.g. 128), not 64"
    )
    assert contract.check(200).endswith("(e.g. 192 or 256), not 200")
    fixed = InputSizeContract("m", multiple_of=32, min_size=224, fixed=224)
    assert [s for s in range(0, 500, 32) if fixed.works(s)] == [224]


def test_unknown_model_is_a_one_line_error() -> None:
    with pytest.raises(ValueError, match=r"^backbone: unknown timm model 'not_a_model'$"):
        input_size_contract("not_a_model")
