"""Learning-rate schedules for Lightning: linear warmup, then cosine, step, constant or plateau.

``build_scheduler`` returns the ``lr_scheduler`` dict that
``LightningModule.configure_optimizers`` hands to Lightning. Warmup followed by
a cosine, step or constant schedule is one ``LambdaLR``, stepped after every
optimizer step, whose multiplier scales each param group's initial lr.
``sync_new_param_groups`` extends a scheduler to param groups added to its
optimizer later (e.g. when a callback unfreezes part of the model).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau

SCHEDULERS = ("cosine", "step", "constant", "plateau")


def build_scheduler(
    optimizer: Optimizer,
    *,
    name: str,
    total_steps: int,
    warmup_steps: int = 0,
    min_lr_factor: float = 0.0,
    step_size: int | None = None,
    gamma: float = 0.1,
    patience: int = 10,
    monitor: str | None = None,
    mode: str = "min",
) -> dict[str, Any]:
    """A Lightning lr-scheduler config for ``optimizer``.

    Args:
        optimizer: The optimizer; each param group's lr now is its initial lr.
        name: ``"cosine"`` (warmup, then cosine down to ``min_lr_factor``),
            ``"step"`` (warmup, then times ``gamma`` every ``step_size`` steps),
            ``"constant"`` (warmup, then flat) or ``"plateau"`` (times ``gamma``
            once ``monitor`` has not improved for ``patience`` epochs; no warmup).
        total_steps: Optimizer steps of the whole run.
        warmup_steps: Steps over which the lr rises linearly to its initial value.
        min_lr_factor: Lowest lr, as a fraction of each group's initial lr.
        step_size: Steps between two ``"step"`` decays; ``None`` decays after a
            third and two thirds of the steps that follow warmup.
        gamma: Decay factor of ``"step"`` and ``"plateau"``.
        patience: Epochs without improvement before ``"plateau"`` decays.
        monitor: Logged metric that ``"plateau"`` watches (required for it).
        mode: ``"min"`` if a lower ``monitor`` is better, ``"max"`` if higher is.

    Returns:
        ``{"scheduler": LambdaLR, "interval": "step"}``, or for ``"plateau"``
        ``{"scheduler": ReduceLROnPlateau, "interval": "epoch", "monitor": monitor}``.
    """
    if name not in SCHEDULERS:
        valid = ", ".join(SCHEDULERS)
        raise ValueError(f"scheduler: unknown name {name!r}, expected one of {valid}")
    if name == "plateau":
        if monitor is None:
            raise ValueError("scheduler: 'plateau' needs a monitor, the metric it watches")
        scheduler = _ReduceLROnPlateau(
            optimizer, min_lr_factor, mode=mode, factor=gamma, patience=patience
        )
        return {"scheduler": scheduler, "interval": "epoch", "monitor": monitor}
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(
            f"scheduler: warmup_steps={warmup_steps} must lie in [0, total_steps={total_steps}]"
        )
    if step_size is None:
        step_size = max(1, (total_steps - warmup_steps) // 3)
    multiplier = _multiplier(name, total_steps, warmup_steps, min_lr_factor, step_size, gamma)
    return {"scheduler": LambdaLR(optimizer, multiplier), "interval": "step"}


def _multiplier(
    name: str,
    total_steps: int,
    warmup_steps: int,
    min_lr_factor: float,
    step_size: int,
    gamma: float,
) -> Callable[[int], float]:
    """The factor on a group's initial lr after ``step`` optimizer steps, as a function."""

    # A plain function rather than a callable object: LambdaLR's state_dict then stores
    # None for it, and a checkpoint with more param groups (see below) still loads.
    def multiplier(step: int) -> float:
        if step < warmup_steps:  # never exactly 0, so the very first step already learns
            return (step + 1) / (warmup_steps + 1)
        after_warmup = step - warmup_steps
        if name == "cosine":
            progress = min(1.0, after_warmup / max(1, total_steps - warmup_steps))
            return min_lr_factor + (1 - min_lr_factor) * (1 + math.cos(math.pi * progress)) / 2
        if name == "step":
            return max(min_lr_factor, gamma ** (after_warmup // step_size))
        return 1.0

    return multiplier


class _ReduceLROnPlateau(ReduceLROnPlateau):
    """``ReduceLROnPlateau`` whose floor is ``min_lr_factor`` times each group's initial lr."""

    def __init__(self, optimizer: Optimizer, min_lr_factor: float, **kwargs: Any) -> None:
        self.min_lr_factor = min_lr_factor
        min_lrs = [min_lr_factor * group["lr"] for group in optimizer.param_groups]
        super().__init__(optimizer, min_lr=min_lrs, **kwargs)


def sync_new_param_groups(scheduler: LambdaLR | ReduceLROnPlateau) -> None:
    """Make a scheduler aware of param groups added to its optimizer after it was built.

    torch schedulers keep one entry per param group from construction on
    (``LambdaLR``'s ``base_lrs`` and ``lr_lambdas``, ``ReduceLROnPlateau``'s
    ``min_lrs``) and fail once groups are added. This extends those lists so that
    every new group follows the same schedule relative to its own initial lr
    (its ``"initial_lr"`` if set, else its lr when added); under a ``LambdaLR``
    a new group's lr is also set to the current point of the schedule at once.

    Call it right after ``optimizer.add_param_group``, and after resuming from a
    checkpoint taken when the optimizer had more groups than it is built with.
    Calling it again is harmless.

    Args:
        scheduler: A scheduler made by ``build_scheduler``.
    """
    groups = scheduler.optimizer.param_groups
    if isinstance(scheduler, ReduceLROnPlateau):
        for group in groups[len(scheduler.min_lrs) :]:
            initial_lr = group.get("initial_lr", group["lr"])
            scheduler.min_lrs.append(scheduler.min_lr_factor * initial_lr)
        return
    # A resumed LambdaLR has its base_lrs from the checkpoint but lr_lambdas from __init__.
    missing = len(groups) - len(scheduler.lr_lambdas)
    scheduler.lr_lambdas += [scheduler.lr_lambdas[0]] * missing
    for group in groups[len(scheduler.base_lrs) :]:
        group.setdefault("initial_lr", group["lr"])
        scheduler.base_lrs.append(group["initial_lr"])
        group["lr"] = group["initial_lr"] * scheduler.lr_lambdas[0](scheduler.last_epoch)
