"""Any timm model as a multi-scale feature extractor.

``TimmBackbone`` builds ``timm.create_model(..., features_only=True)`` and exposes
what necks and heads need to fit onto it: the channels and stride of every
feature map, and the submodule that produces each of them (for freezing).
Feature maps always come out NCHW, also for models that compute NHWC (Swin).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import timm
import torch
from timm.models.hrnet import HighResolutionNetFeatures
from torch import nn


class TimmBackbone(nn.Module):
    """A timm ``features_only`` model that returns NCHW feature maps, finest first.

    Args:
        model_name: Any timm model name, e.g. ``"resnet18"`` or ``"convnext_atto"``.
        pretrained: ``False`` for random weights, ``True`` for timm's default
            weights, or the path of a local checkpoint (a state dict of the
            classification model, as timm publishes them).
        in_chans: Input channels; timm adapts pretrained first-layer weights.
        out_indices: Which feature levels to return; ``None`` keeps timm's default.
        img_size: Input size for models whose size is fixed at creation (Swin,
            ViT). Inputs must then have exactly this size. ``None`` keeps the
            model's default.
        **timm_kwargs: Passed on to ``timm.create_model`` (e.g. ``drop_path_rate``).

    Attributes:
        out_channels: Channels ``C_i`` of each feature map.
        strides: Stride ``s_i`` of each feature map relative to the input.
        stage_names: Dotted path, relative to this module, of the submodule whose
            output is feature ``i``; use with ``get_submodule`` to freeze stages.
    """

    def __init__(
        self,
        model_name: str,
        pretrained: bool | str = False,
        in_chans: int = 3,
        out_indices: Sequence[int] | None = None,
        img_size: int | None = None,
        **timm_kwargs: Any,
    ) -> None:
        super().__init__()
        # Prefixed names ("hf-hub:...", "local-dir:...") are resolved by timm itself.
        if ":" not in model_name and not timm.is_model(model_name):
            raise ValueError(f"backbone: unknown timm model {model_name!r}")
        if isinstance(pretrained, str):
            if not Path(pretrained).is_file():
                raise ValueError(f"backbone: pretrained checkpoint {pretrained!r} is not a file")
            timm_kwargs["pretrained_cfg_overlay"] = dict(file=pretrained)
        # timm drops None kwargs, so unset out_indices / img_size keep the model's defaults.
        self.model = timm.create_model(
            model_name,
            features_only=True,
            pretrained=bool(pretrained),
            in_chans=in_chans,
            out_indices=tuple(out_indices) if out_indices is not None else None,
            img_size=img_size,
            **timm_kwargs,
        )
        info = self.model.feature_info
        self.out_channels: list[int] = list(info.channels())
        self.strides: list[int] = list(info.reduction())
        self.stage_names: list[str] = [
            f"model.{_feature_module(self.model, name)}" for name in info.module_name()
        ]
        self._nhwc = getattr(self.model, "output_fmt", "NCHW") == "NHWC"

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``x: (B, in_chans, H, W)`` -> ``[(B, C_i, H / s_i, W / s_i)]``, finest first.

        ``C_i = out_channels[i]`` and ``s_i = strides[i]``.
        """
        features = self.model(x)
        if self._nhwc:
            features = [f.permute(0, 3, 1, 2) for f in features]
        return features


def _feature_module(model: nn.Module, name: str) -> str:
    """Path in ``model`` of the submodule that timm's ``feature_info`` calls ``name``."""
    if isinstance(model, HighResolutionNetFeatures):
        # timm's HRNet names its features "stem", "stage1".."stage4", which are not
        # its modules (hrnet.py says so). The stem feature is the output of act1;
        # feature k is branch k of stage4, passed through incre_modules[k - 1] if present.
        if name == "stem":
            return "act1"
        if model.incre_modules is None:
            return "stage4"
        return f"incre_modules.{int(name.removeprefix('stage')) - 1}"
    modules = dict(model.named_modules())
    # FeatureListNet flattens "stages.0" into a child "stages_0"; FeatureGetterNet
    # keeps the whole model as its child "model".
    for candidate in (name, name.replace(".", "_"), f"model.{name}"):
        if candidate in modules:
            return candidate
    raise ValueError(f"backbone: timm feature module {name!r} is not a submodule of the model")
