"""Checkpoints that describe their run: each one carries the config it was trained with.

``validate``, ``test``, ``predict`` and ``export`` rebuild the model from that
config, so editing ``configs/train.yaml`` after training (another backbone, another
``num_classes``) never breaks evaluating or exporting an earlier run.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback
from pydantic import ValidationError

from .config import EVALUATION_SETTINGS, Config, describe
from .errors import CheckpointError, ConfigError

CONFIG_KEY = "config"
"""Where a checkpoint keeps its run's resolved config, as plain JSON-able data."""


class StoreConfig(Callback):
    """Keeps the run's resolved config: as ``config.yaml`` in the run directory, and
    in every checkpoint under ``CONFIG_KEY``."""

    def __init__(self, config: Config) -> None:
        # What was set, as set: settings a section does not read (momentum with adamw)
        # stay out, so the stored config validates again exactly as it did.
        self.config = config.model_dump(mode="json", exclude_unset=True)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and trainer.log_dir is not None:
            text = yaml.safe_dump(self.config, sort_keys=False)
            (Path(trainer.log_dir) / "config.yaml").write_text(text)

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[CONFIG_KEY] = self.config


def read_checkpoint(path: Path, key: str) -> dict[str, Any]:
    """The checkpoint dict at ``path``; ``key`` (e.g. ``ckpt_path``) names the setting in errors."""
    if not Path(path).is_file():
        raise CheckpointError(f"{key}: no checkpoint at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, KeyError, OSError, pickle.UnpicklingError) as error:
        reason = str(error).strip().split(". ")[0].splitlines()[0] if str(error).strip() else "empty"
        raise CheckpointError(
            f"{key}: cannot read checkpoint {path}; truncated or not a checkpoint ({reason})"
        ) from None


def trained_config(checkpoint: dict[str, Any], path: Path, key: str) -> Config:
    """The config ``checkpoint`` (read from ``path``, given as ``key``) was trained with."""
    if CONFIG_KEY not in checkpoint:
        raise CheckpointError(f"{key}: {path} holds no training config; was it written by train?")
    try:
        return Config.model_validate(checkpoint[CONFIG_KEY])
    except ValidationError as error:
        problem = describe(error)
        raise CheckpointError(f"{key}: the training config in {path} fails: {problem}") from None


def check_resume(config: Config) -> None:
    """``resume`` must be a readable checkpoint of the same model as ``config``."""
    if config.resume is None:
        return
    trained = trained_config(read_checkpoint(config.resume, "resume"), config.resume, "resume")
    difference = _first_difference(trained.model.model_dump(), config.model.model_dump(), "model")
    if difference is not None:
        raise CheckpointError(
            f"resume: {config.resume} was trained with another {difference}; "
            "resume with the config it was trained with, or train anew"
        )


def _first_difference(old: Any, new: Any, key: str) -> str | None:
    """The first dotted key under which ``old`` and ``new`` differ, with both values."""
    if isinstance(old, dict) and isinstance(new, dict):
        for name in [*old, *(name for name in new if name not in old)]:
            found = _first_difference(old.get(name), new.get(name), f"{key}.{name}")
            if found is not None:
                return found
        return None
    return None if old == new else f"{key} ({old!r}, now {new!r})"


def for_evaluation(trained: Config, current: Config) -> Config:
    """``trained``, with the settings that may change at evaluation taken from ``current``."""
    raw = trained.model_dump(exclude_unset=True)
    now = current.model_dump()
    for dotted in EVALUATION_SETTINGS:
        *parents, leaf = dotted.split(".")
        source, target = now, raw
        for part in parents:
            source, target = source[part], target[part]
        target[leaf] = source[leaf]
    try:
        return Config.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(describe(error)) from None
