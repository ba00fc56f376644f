"""save_backbone / load_backbone_weights: round trip, and loud refusals of what does not fit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from component_library.backbones.weights import (
    BackboneWeightsError,
    load_backbone_weights,
    save_backbone,
)


def _net(width: int = 8, depth: int = 2) -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, width, 3), nn.BatchNorm2d(width)]
    layers += [nn.Conv2d(width, width, 3) for _ in range(depth - 1)]
    return nn.Sequential(*layers)


def test_round_trip_restores_every_tensor(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = _net()
    source.train()(torch.randn(4, 3, 8, 8))  # non-trivial BN running statistics
    path = save_backbone(source, tmp_path / "sub" / "backbone.pt")
    torch.manual_seed(1)
    target = _net()
    assert load_backbone_weights(target, path) == ([], [])
    for key, value in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[key], value, rtol=0, atol=0)
    assert torch.load(path, weights_only=True).keys() == source.state_dict().keys()


def test_timm_backbone_round_trip(tmp_path: Path) -> None:
    from component_library.backbones.timm_backbone import TimmBackbone

    torch.manual_seed(0)
    source = TimmBackbone("resnet18").eval()
    path = save_backbone(source, tmp_path / "resnet18.pt")
    target = TimmBackbone("resnet18").eval()
    load_backbone_weights(target, path)
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(target(x)[-1], source(x)[-1], rtol=0, atol=0)
    with pytest.raises(BackboneWeightsError, match="shape"):
        load_backbone_weights(TimmBackbone("resnet50"), path)


def test_wrong_width_is_refused_even_when_not_strict(tmp_path: Path) -> None:
    path = save_backbone(_net(width=8), tmp_path / "w.pt")
    target = _net(width=16)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(BackboneWeightsError) as error:
        load_backbone_weights(target, path, strict=False)
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    assert "0.weight (8, 3, 3, 3) in file vs (16, 3, 3, 3) in model" in message
    assert "(+" in message  # more mismatches than it lists
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())


def test_missing_and_unexpected_keys_strict_and_not(tmp_path: Path) -> None:
    path = save_backbone(_net(depth=3), tmp_path / "deep.pt")
    with pytest.raises(BackboneWeightsError, match=r"unexpected key\(s\): 3\.weight, 3\.bias$"):
        load_backbone_weights(_net(depth=2), path)
    shallow = save_backbone(_net(depth=2), tmp_path / "shallow.pt")
    with pytest.raises(BackboneWeightsError, match=r"2 missing key\(s\): 3\.weight, 3\.bias"):
        load_backbone_weights(_net(depth=3), shallow)
    target = _net(depth=3)
    missing, unexpected = load_backbone_weights(target, shallow, strict=False)
    assert (missing, unexpected) == (["3.weight", "3.bias"], [])
    torch.testing.assert_close(target[0].weight, torch.load(shallow, weights_only=True)["0.weight"])


def test_unreadable_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(BackboneWeightsError, match="does not exist"):
        load_backbone_weights(_net(), tmp_path / "none.pt")
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with pytest.raises(BackboneWeightsError, match="not a weights file torch can load"):
        load_backbone_weights(_net(), junk)
    checkpoint = tmp_path / "last.ckpt"
    torch.save({"state_dict": _net().state_dict(), "epoch": 3}, checkpoint)
    with pytest.raises(BackboneWeightsError, match="a training checkpoint; export the backbone"):
        load_backbone_weights(_net(), checkpoint)
