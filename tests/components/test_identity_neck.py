"""IdentityNeck passes the features and their geometry through."""

from __future__ import annotations

import torch

from component_library.necks.identity import IdentityNeck


def test_features_and_geometry_pass_through() -> None:
    neck = IdentityNeck((8, 16), (4, 8))
    features = [torch.randn(2, 8, 16, 16), torch.randn(2, 16, 8, 8)]
    out = neck(features)
    assert neck.out_channels == [8, 16] and neck.strides == [4, 8]
    assert len(out) == 2 and all(o is f for o, f in zip(out, features, strict=True))
