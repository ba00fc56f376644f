"""Any timm model as a multi-scale feature extractor.

``TimmBackbone`` builds ``timm.create_model(..., features_only=True)`` at the
training image size and exposes what necks and heads need to fit onto it: the
channels and stride of every feature map, the sizes it takes (``input_size``),
and, by timm's name, the submodule that produces each feature (for freezing).
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

from .input_size import InputSizeContract, input_size_contract

# Children under which timm's feature wrappers keep the whole model: FeatureGetterNet
# ("model") and FeatureHookNet without rewrite ("body").
_WRAPPED = ((), ("model",), ("body",))


class TimmBackbone(nn.Module):
    """A timm ``features_only`` model that returns NCHW feature maps, finest first.

    Args:
        model_name: Any timm model name, e.g. ``"resnet18"`` or ``"convnext_atto"``.
        pretrained: ``False`` for random weights, ``True`` for timm's default
            weights, or the path of a local checkpoint (a state dict of the
            classification model, as timm publishes them).
        in_chans: Input channels; timm adapts pretrained first-layer weights.
        out_indices: Which feature levels to return; ``None`` keeps timm's default.
        img_size: The (square) training image size. The model is built for it
            (``img_size``) and, where timm supports it, takes any size of
            ``input_size`` at run time (``dynamic_img_size``). ``None`` builds the
            model at its default size.
        **timm_kwargs: Passed on to ``timm.create_model`` (e.g. ``drop_path_rate``).

    Raises:
        ValueError: Unknown model, missing checkpoint, or an ``img_size`` the model
            does not take (the message says which sizes it takes).

    Attributes:
        out_channels: Channels ``C_i`` of each feature map.
        strides: Stride ``s_i`` of each feature map relative to the input.
        stage_names: timm's name of the module that produces feature ``i``
            (``feature_info.module_name()``, e.g. ``"layer1"`` or
            ``"blocks.0.stack.act3"``); ``stage_module`` finds it in this module.
        input_size: The input sizes the model takes (see ``input_size.py``).
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
        self.input_size: InputSizeContract = input_size_contract(
            model_name, in_chans=in_chans, **timm_kwargs
        )
        if img_size is not None and (reason := self.input_size.check(img_size)):
            raise ValueError(f"backbone: {reason}")
        if isinstance(pretrained, str):
            if not Path(pretrained).is_file():
                raise ValueError(f"backbone: pretrained checkpoint {pretrained!r} is not a file")
            timm_kwargs["pretrained_cfg_overlay"] = dict(file=pretrained)
        # The caller's own img_size / dynamic_img_size in timm_kwargs win.
        timm_kwargs = {**self.input_size.create_kwargs(img_size), **timm_kwargs}
        # timm drops None kwargs, so unset out_indices keeps the model's default.
        self.model = timm.create_model(
            model_name,
            features_only=True,
            pretrained=bool(pretrained),
            in_chans=in_chans,
            out_indices=tuple(out_indices) if out_indices is not None else None,
            **timm_kwargs,
        )
        info = self.model.feature_info
        self.out_channels: list[int] = list(info.channels())
        self.strides: list[int] = list(info.reduction())
        self.stage_names: list[str] = list(info.module_name())
        self._nhwc = getattr(self.model, "output_fmt", "NCHW") == "NHWC"

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``x: (B, in_chans, H, W)`` -> ``[(B, C_i, H / s_i, W / s_i)]``, finest first.

        ``C_i = out_channels[i]`` and ``s_i = strides[i]``.
        """
        features = self.model(x)
        if self._nhwc:
            features = [f.permute(0, 3, 1, 2) for f in features]
        return features

    def stage_path(self, name: str) -> str:
        """Dotted path, relative to this module, of the module of stage ``name``.

        Raises:
            ValueError: ``name`` is not a stage, or timm's feature wrapper moved its
                module out of reach; the message lists the stages that resolve.
        """
        path = _feature_module(self.model, name) if name in self.stage_names else None
        if path is None:
            resolvable = [s for s in self.stage_names if _feature_module(self.model, s)]
            problem = (
                f"cannot locate the module of stage {name!r}"
                if name in self.stage_names
                else f"has no stage {name!r}"
            )
            raise ValueError(
                f"backbone: {self.input_size.model_name} {problem}; "
                f"stages that resolve: {', '.join(resolvable) or 'none'}"
            )
        return f"model.{path}"

    def stage_module(self, name: str) -> nn.Module:
        """The submodule that produces stage ``name`` (one of ``stage_names``)."""
        return self.get_submodule(self.stage_path(name))


def _feature_module(model: nn.Module, name: str) -> str | None:
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
    atoms = name.split(".")
    for prefix in _WRAPPED:
        path = _resolve(model, [*prefix, *atoms])
        if path is not None:
            return ".".join(path)
    return None


def _resolve(module: nn.Module, atoms: list[str]) -> list[str] | None:
    """Child names leading to the module timm calls ``".".join(atoms)``.

    timm's feature wrappers flatten nested containers into one child by joining
    names with ``_`` ("blocks.0" becomes "blocks_0"), at any depth, so each child
    may stand for one or several consecutive atoms.
    """
    if not atoms:
        return []
    children = dict(module.named_children())
    for count in range(1, len(atoms) + 1):
        child = "_".join(atoms[:count])
        if child in children:
            rest = _resolve(children[child], atoms[count:])
            if rest is not None:
                return [child, *rest]
    return None
