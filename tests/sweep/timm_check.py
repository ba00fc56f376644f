"""One timm model through every path okgen builds on it, with the contract that broke.

``check_model`` builds ``TimmBackbone`` at a size the model's input-size contract
accepts, then runs forward and backward through each segmentation neck (FPN,
U-Net, HRNet) and the pooling path (average pooling and a linear head). It
raises ``ContractBroken`` naming the first contract that does not hold, in this order:

- ``input-size contract``: the contract itself cannot be read;
- ``build``: ``TimmBackbone`` cannot be built at a size the contract accepts;
- ``input size``: the forward pass fails at a size the contract accepts;
- ``channels/strides``: a feature map has other channels than ``out_channels``;
- ``neck <name>`` / ``pooling``: that part fails or returns the wrong shape;
- ``backward``: no gradient reaches the stem, or some parameters get none;
- ``channels/strides``: a feature map is not ``H / s_i`` for its stride ``s_i``;
- ``stage names``: a stage name does not resolve to a submodule.
"""

from __future__ import annotations

import torch
from torch import nn

from component_library.backbones.input_size import InputSizeContract, input_size_contract
from component_library.backbones.timm_backbone import TimmBackbone
from component_library.necks.fpn import FPN
from component_library.necks.hrnet_concat import HRNetConcat
from component_library.necks.unet import UNetDecoder
from component_library.poolings.avg_pool import AvgPool

NECKS: dict[str, type[nn.Module]] = {"fpn": FPN, "unet": UNetDecoder, "hrnet": HRNetConcat}
BATCH = 2


class ContractBroken(Exception):
    """``contract`` does not hold for a model; ``str()`` is a one-line reason."""

    def __init__(self, contract: str, error: BaseException | str) -> None:
        self.contract = contract
        self.size: int | None = None  # the image size tried, once known
        self.error = error if isinstance(error, str) else _one_line(error)
        super().__init__(f"{contract}: {self.error}")


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or "(no message)"
    return f"{type(error).__name__}: {text[:160]}"


def working_size(contract: InputSizeContract, wanted: int) -> int:
    """``wanted`` if the contract takes it, else the smallest size it takes above it."""
    if contract.fixed is not None:
        return contract.fixed
    size = max(wanted, contract.min_size)
    return -(-size // contract.multiple_of) * contract.multiple_of


def _step(contract: str, action, *args):
    try:
        return action(*args)
    except ContractBroken:
        raise
    except Exception as error:  # any failure is the contract's
        raise ContractBroken(contract, error) from error


def check_model(model_name: str, size: int = 64) -> int:
    """Run ``model_name`` through backbone, necks and pooling; return the size used.

    Raises:
        ContractBroken: the first contract that does not hold.
    """
    contract = _step("input-size contract", input_size_contract, model_name)
    size = working_size(contract, size)
    if reason := contract.check(size):
        raise ContractBroken("input-size contract", f"its own size {size} fails: {reason}")
    try:
        _check_at(model_name, size)
    except ContractBroken as broken:
        broken.size = size
        raise
    return size


def _check_at(model_name: str, size: int) -> None:
    backbone = _step("build", TimmBackbone, model_name, False, 3, None, size)
    x = torch.randn(BATCH, 3, size, size)
    features = _step("input size", backbone, x)

    channels = [f.shape[1] for f in features]
    if channels != backbone.out_channels:
        raise ContractBroken(
            "channels/strides", f"channels {channels}, declared {backbone.out_channels}"
        )

    outputs = []
    for neck_name, neck_cls in NECKS.items():

        def run_neck(neck_cls=neck_cls):
            neck = neck_cls(backbone.out_channels, backbone.strides)
            (fused,) = neck(features)
            # The map at the neck's stride sets its output size (see the necks' docstrings).
            finest = features[backbone.strides.index(neck.strides[0])]
            wanted = (BATCH, neck.out_channels[0], *finest.shape[-2:])
            if tuple(fused.shape) != wanted:
                raise ValueError(f"output {tuple(fused.shape)}, expected {wanted}")
            return fused

        outputs.append(_step(f"neck {neck_name}", run_neck))

    def run_pooling():
        pooled = AvgPool(backbone.out_channels[-1])(features[-1])
        return nn.Linear(pooled.shape[1], 10)(pooled)

    outputs.append(_step("pooling", run_pooling))

    def run_backward():
        # Random projections, so that no gradient cancels out (a plain mean does under BatchNorm).
        sum((out * torch.randn_like(out)).sum() for out in outputs).backward()
        params = [p for p in backbone.parameters() if p.requires_grad]
        missing = [n for n, p in backbone.named_parameters() if p.requires_grad and p.grad is None]
        if missing:
            raise ValueError(f"{len(missing)} of {len(params)} parameters get no gradient")
        if not params[0].grad.abs().sum() > 0:
            raise ValueError("no gradient reaches the stem")

    _step("backward", run_backward)
    # Last, as necks resize to the maps they get: maps smaller than H / s_i (timm's models
    # with unpadded convolutions) break only the declared strides.
    shapes = [tuple(f.shape) for f in features]
    expected = [
        (BATCH, c, size // s, size // s) for c, s in zip(channels, backbone.strides, strict=True)
    ]
    if shapes != expected:
        raise ContractBroken("channels/strides", f"got {shapes}, declared {expected}")
    # Last: a stage name that does not resolve only matters to an unfreeze schedule naming it.
    for name in backbone.stage_names:
        _step("stage names", backbone.stage_module, name)
