"""TimmBackbone over every model family okgen offers (``backbone_models`` in the catalogue)."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from component_library.backbones.input_size import input_size_contract
from component_library.backbones.timm_backbone import TimmBackbone

from .catalogue import entries

MODELS = sorted(entries("backbone_models"))


SIZE = 64  # not the default size of any of them (Swin's is fixed at creation)


@pytest.mark.parametrize("model_name", MODELS)
def test_features_match_declared_channels_strides_and_stage_names(model_name: str) -> None:
    backbone = TimmBackbone(model_name, img_size=SIZE)
    stage_outputs = []
    for name in backbone.stage_names:
        module = backbone.stage_module(name)
        module.register_forward_hook(lambda _m, _i, output: stage_outputs.append(output))
    x = torch.randn(1, 3, SIZE, SIZE)
    features = backbone(x)

    assert len(backbone.out_channels) == len(backbone.strides)
    for feature, channels, stride in zip(
        features, backbone.out_channels, backbone.strides, strict=True
    ):
        assert feature.shape == (1, channels, x.shape[2] // stride, x.shape[3] // stride)

    # Each stage name is the module whose output is that feature (NHWC for Swin).
    for output, feature in zip(stage_outputs, features, strict=True):
        if output.shape != feature.shape:
            output = output.permute(0, 3, 1, 2)
        assert torch.equal(output, feature)

    # A random projection, so that no gradient cancels out (a plain mean does under BatchNorm).
    sum((f * torch.randn_like(f)).sum() for f in features).backward()
    params = list(backbone.parameters())
    assert all(p.grad is not None for p in params)
    assert params[0].grad.abs().sum() > 0  # the gradient reaches the stem


@pytest.mark.parametrize("model_name", MODELS)
def test_pretrained_checkpoint_loads_onto_a_single_channel_input(
    model_name: str, tmp_path: Path
) -> None:
    size_kwargs = input_size_contract(model_name).create_kwargs(SIZE)
    torch.manual_seed(0)
    source = timm.create_model(model_name, **size_kwargs)
    checkpoint = tmp_path / "weights.pth"
    torch.save(source.state_dict(), checkpoint)

    torch.manual_seed(1)
    backbone = TimmBackbone(model_name, pretrained=str(checkpoint), in_chans=1, img_size=SIZE)
    with torch.no_grad():
        features = backbone.eval()(torch.randn(1, 1, SIZE, SIZE))
    assert [f.shape[1] for f in features] == backbone.out_channels

    # features_only flattens "stages.0" into "stages_0": compare under one spelling.
    expected = {k.replace(".", "_"): v for k, v in source.state_dict().items()}
    # For one input channel timm sums the first convolution's RGB weights.
    first_conv = f"{timm.get_pretrained_cfg(model_name).first_conv}.weight".replace(".", "_")
    expected[first_conv] = expected[first_conv].sum(dim=1, keepdim=True)
    loaded = {k.replace(".", "_"): v for k, v in backbone.model.state_dict().items()}
    assert first_conv in loaded
    for key, value in loaded.items():
        assert torch.equal(value, expected[key]), key


def test_user_errors_name_the_culprit(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not_a_model"):
        TimmBackbone("not_a_model")
    with pytest.raises(ValueError, match="missing"):
        TimmBackbone("resnet18", pretrained=str(tmp_path / "missing.pth"))
