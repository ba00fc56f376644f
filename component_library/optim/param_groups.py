"""Optimizer param groups that exempt normalization and bias parameters from weight decay."""

from __future__ import annotations

from typing import Any

from timm.optim import param_groups_weight_decay
from torch import nn

_NORM_LAYERS = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.RMSNorm,
)


def param_groups(
    module: nn.Module, weight_decay: float, lr: float | None = None
) -> list[dict[str, Any]]:
    """Split the trainable parameters of ``module`` into a decay and a no-decay group.

    No decay for biases and every parameter with ``ndim <= 1`` (which covers the
    affine parameters of timm's and torch's norm layers, and layer scales), nor
    for any parameter of a torch norm layer (a ``LayerNorm`` over ``(C, H, W)``
    has a 3-D weight). Frozen parameters (``requires_grad=False``) are left out
    and empty groups dropped.

    Args:
        module: The model, or the part of it that these groups are for.
        weight_decay: Weight decay of the decay group.
        lr: Learning rate of both groups; ``None`` leaves the optimizer's default.

    Returns:
        Groups for ``torch.optim.Optimizer`` or ``optimizer.add_param_group``.
    """
    norm_params = [
        f"{module_name}.{name}" if module_name else name
        for module_name, layer in module.named_modules()
        if isinstance(layer, _NORM_LAYERS)
        for name, _ in layer.named_parameters(recurse=False)
    ]
    groups = param_groups_weight_decay(module, weight_decay, no_weight_decay_list=norm_params)
    if lr is not None:
        for group in groups:
            group["lr"] = lr
    return groups
