"""Unfreeze modules at given epochs, each with its own learning-rate factor.

Built on Lightning's ``BaseFinetuning``. Every scheduled module is frozen before
the optimizer is configured; at the start of its ``epoch`` it becomes trainable and
its parameters join the optimizer as new param groups with
``lr = base lr * lr_factor`` (no weight decay on norm and bias parameters), which
the LR schedulers (made by ``optim/schedulers.py``) then drive like the others.
A schedule, as in a config file::

    - {module: model.backbone.layer4, epoch: 2, lr_factor: 0.1}
    - {module: model.backbone, epoch: 5, lr_factor: 0.01, train_bn: false}

``module`` is a dotted path from the LightningModule (``get_submodule``), or the
path of a backbone followed by one of its stage names (``TimmBackbone.stage_names``,
timm's names, such as ``layer4`` or ``stages.2``). With
``train_bn: true`` (the Lightning default) BatchNorm layers train even while their
module is frozen; with ``train_bn: false`` they stay frozen, in eval mode, for the
whole run.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import BaseFinetuning
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim import Optimizer

from ..optim.param_groups import param_groups
from ..optim.schedulers import sync_new_param_groups


class UnfreezeScheduleError(ValueError):
    """An unfreeze schedule item is malformed or names a module that does not exist."""


@dataclass(frozen=True)
class _Step:
    module: str
    epoch: int
    lr_factor: float = 0.1
    train_bn: bool = True


def _parse(index: int, item: Mapping[str, Any]) -> _Step:
    where = f"unfreeze schedule[{index}]"
    unknown = sorted(set(item) - {"module", "epoch", "lr_factor", "train_bn"})
    if unknown or "module" not in item or "epoch" not in item:
        raise UnfreezeScheduleError(
            f"{where}: expected keys module, epoch[, lr_factor, train_bn], got {sorted(item)}"
        )
    step = _Step(**item)
    if not isinstance(step.module, str) or not step.module:
        raise UnfreezeScheduleError(f"{where}: module must be a dotted path, got {step.module!r}")
    if isinstance(step.epoch, bool) or not isinstance(step.epoch, int) or step.epoch < 1:
        raise UnfreezeScheduleError(f"{where}: epoch must be an integer >= 1, got {step.epoch!r}")
    if isinstance(step.lr_factor, bool) or not isinstance(step.lr_factor, (int, float)):
        raise UnfreezeScheduleError(f"{where}: lr_factor must be a number, got {step.lr_factor!r}")
    if step.lr_factor <= 0:
        raise UnfreezeScheduleError(f"{where}: lr_factor must be > 0, got {step.lr_factor!r}")
    if not isinstance(step.train_bn, bool):
        raise UnfreezeScheduleError(
            f"{where}: train_bn must be true or false, got {step.train_bn!r}"
        )
    return step


def _submodule(pl_module: pl.LightningModule, path: str) -> nn.Module:
    try:
        return pl_module.get_submodule(path)
    except AttributeError:
        pass
    owner, stage = _stage_owner(pl_module, path)
    if owner is not None and stage in owner.stage_names:
        try:
            return owner.stage_module(stage)
        except ValueError as error:
            raise UnfreezeScheduleError(f"unfreeze schedule: {error}") from None
    names = [name for name, _ in pl_module.named_modules() if name]
    close = difflib.get_close_matches(path, names, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    if owner is not None:
        prefix = path.removesuffix(stage)
        hint += (
            f"; stages of {prefix.rstrip('.')}: {', '.join(prefix + s for s in owner.stage_names)}"
        )
    raise UnfreezeScheduleError(
        f"unfreeze schedule: {type(pl_module).__name__} has no module {path!r}{hint}"
    )


def _stage_owner(pl_module: pl.LightningModule, path: str) -> tuple[Any, str]:
    """The deepest module along ``path`` that names its stages, and the rest of ``path``.

    A backbone names its stages (``stage_names``, ``stage_module``) as its model
    library does, e.g. ``model.backbone.layer4`` or ``model.backbone.stages.2``.
    """
    atoms = path.split(".")
    module: Any = pl_module
    owner, rest = None, ""
    for index, atom in enumerate(atoms):
        module = getattr(module, atom, None)
        if not isinstance(module, nn.Module):
            break
        if hasattr(module, "stage_names") and hasattr(module, "stage_module"):
            owner, rest = module, ".".join(atoms[index + 1 :])
    return owner, rest


class UnfreezeSchedule(BaseFinetuning):
    """Freeze modules before training and unfreeze each one at its own epoch.

    Args:
        schedule: Items ``{"module": str, "epoch": int >= 1, "lr_factor": float = 0.1,
            "train_bn": bool = True}``. A module nested in another scheduled module
            becomes trainable with whichever of the two unfreezes first.
    """

    def __init__(self, schedule: Sequence[Mapping[str, Any]]) -> None:
        super().__init__()
        self.schedule = [_parse(index, item) for index, item in enumerate(schedule)]

    def freeze_before_training(self, pl_module: pl.LightningModule) -> None:
        for step in self.schedule:
            self.freeze(_submodule(pl_module, step.module), train_bn=step.train_bn)

    def finetune_function(
        self, pl_module: pl.LightningModule, epoch: int, optimizer: Optimizer
    ) -> None:
        for step in self.schedule:
            if step.epoch == epoch:
                self._make_trainable(pl_module, step)
                self._add_param_groups(pl_module, step, optimizer)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # On resume `setup` froze every module again, `on_fit_start` restored the param
        # groups added before the checkpoint, and the schedulers' state has been loaded.
        for step in self.schedule:
            if step.epoch <= trainer.current_epoch:
                self._make_trainable(pl_module, step)
        self._sync_schedulers(trainer)
        self._hold_batchnorm(pl_module)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        self._hold_batchnorm(pl_module)

    def _make_trainable(self, pl_module: pl.LightningModule, step: _Step) -> None:
        layers = self.flatten_modules(_submodule(pl_module, step.module))
        self.make_trainable([m for m in layers if step.train_bn or not isinstance(m, _BatchNorm)])

    def _add_param_groups(
        self, pl_module: pl.LightningModule, step: _Step, optimizer: Optimizer
    ) -> None:
        base = optimizer.param_groups[0]
        lr = base.get("initial_lr", base["lr"]) * step.lr_factor
        # The first group may be a no-decay one; the largest decay is the configured one.
        weight_decay = max(group.get("weight_decay", 0.0) for group in optimizer.param_groups)
        groups = param_groups(_submodule(pl_module, step.module), weight_decay, lr)
        # BaseFinetuning.filter_on_optimizer compares parameter *values* (torch.equal), so a
        # layer equal to one already optimized (norm weights start as all ones) would be
        # skipped; compare identities instead.
        present = {id(p) for group in optimizer.param_groups for p in group["params"]}
        for group in groups:
            group["params"] = [p for p in group["params"] if id(p) not in present]
            if group["params"]:
                optimizer.add_param_group(group)
        self._sync_schedulers(pl_module.trainer)

    @staticmethod
    def _sync_schedulers(trainer: pl.Trainer) -> None:
        """Let every LR scheduler drive the param groups added to its optimizer."""
        for config in trainer.lr_scheduler_configs:
            sync_new_param_groups(config.scheduler)

    def _hold_batchnorm(self, pl_module: pl.LightningModule) -> None:
        """Keep BatchNorm layers of ``train_bn: false`` modules in eval mode (running stats)."""
        for step in self.schedule:
            if not step.train_bn:
                for layer in _submodule(pl_module, step.module).modules():
                    if isinstance(layer, _BatchNorm):
                        layer.eval()
