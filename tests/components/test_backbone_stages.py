"""Stage names: timm's feature names, resolved lazily to submodules, usable to unfreeze."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from torch import nn

from component_library.backbones.timm_backbone import TimmBackbone
from component_library.callbacks.unfreeze import UnfreezeSchedule, UnfreezeScheduleError


@pytest.fixture(scope="module")
def xception() -> TimmBackbone:
    """timm wraps it in a FeatureHookNet that flattens "blocks.0" into a child "blocks_0"."""
    return TimmBackbone("xception41", img_size=64)


class Holder(pl.LightningModule):
    """``model.backbone`` as in a generated project."""

    def __init__(self, backbone: TimmBackbone) -> None:
        super().__init__()
        self.model = nn.Module()
        self.model.backbone = backbone


def test_nested_feature_names_resolve_to_the_modules_that_produce_the_features(
    xception: TimmBackbone,
) -> None:
    assert xception.stage_names[0] == "blocks.0.stack.act3"
    assert xception.stage_path("blocks.0.stack.act3") == "model.blocks_0.stack.act3"
    outputs = []
    handles = [
        xception.stage_module(name).register_forward_hook(lambda _m, _i, out: outputs.append(out))
        for name in xception.stage_names
    ]
    with torch.no_grad():
        features = xception.eval()(torch.randn(1, 3, 64, 64))
    for handle in handles:
        handle.remove()
    assert len(outputs) == len(features) == 5
    for output, feature in zip(outputs, features, strict=True):
        assert torch.equal(output, feature)


def test_unknown_stage_lists_the_stages_that_resolve(
    xception: TimmBackbone,
) -> None:
    resolvable = ", ".join(xception.stage_names)
    with pytest.raises(ValueError, match=r"has no stage 'blocks\.99'") as info:
        xception.stage_module("blocks.99")
    assert str(info.value).endswith(f"stages that resolve: {resolvable}")


def test_stage_timm_names_wrongly_only_fails_when_asked_for() -> None:
    # timm 1.0.31's MViTv2 declares its features as "block.0".."block.3", but its blocks are
    # "stages.0".."stages.3": the backbone builds and runs, and only asking for the stage fails.
    backbone = TimmBackbone("mvitv2_tiny", img_size=64)
    assert backbone.stage_names == ["block.0", "block.1", "block.2", "block.3"]
    assert "block" not in dict(backbone.model.model.named_children())
    features = backbone(torch.randn(1, 3, 64, 64))
    assert [f.shape[1] for f in features] == backbone.out_channels
    with pytest.raises(ValueError, match=r"cannot locate the module of stage 'block\.1'") as info:
        backbone.stage_module("block.1")
    assert str(info.value) == (
        "backbone: mvitv2_tiny cannot locate the module of stage 'block.1'; "
        "stages that resolve: none"
    )
    callback = UnfreezeSchedule([{"module": "model.backbone.block.1", "epoch": 1}])
    with pytest.raises(UnfreezeScheduleError) as info:
        callback.freeze_before_training(Holder(backbone))
    assert str(info.value) == (
        "unfreeze schedule: backbone: mvitv2_tiny cannot locate the module of stage 'block.1'; "
        "stages that resolve: none"
    )


def test_unfreeze_schedule_freezes_a_stage_named_as_timm_names_it(
    xception: TimmBackbone,
) -> None:
    module = Holder(xception)
    schedule = [{"module": "model.backbone.blocks.12", "epoch": 1, "train_bn": False}]
    UnfreezeSchedule(schedule).freeze_before_training(module)
    frozen = {n for n, p in xception.named_parameters() if not p.requires_grad}
    expected = {f"model.blocks_12.{n}" for n, _ in xception.model.blocks_12.named_parameters()}
    assert frozen == expected and expected
    for parameter in xception.parameters():
        parameter.requires_grad_(True)


def test_unfreeze_schedule_names_the_stages_of_the_backbone_it_walked_into(
    xception: TimmBackbone,
) -> None:
    module = Holder(xception)
    callback = UnfreezeSchedule([{"module": "model.backbone.blocks.99", "epoch": 1}])
    with pytest.raises(UnfreezeScheduleError) as info:
        callback.freeze_before_training(module)
    message = str(info.value)
    assert message.startswith("unfreeze schedule: Holder has no module 'model.backbone.blocks.99'")
    assert "stages of model.backbone: model.backbone.blocks.0.stack.act3," in message
