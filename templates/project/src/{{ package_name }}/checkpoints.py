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
from lightning.pytorch.callbacks import Callback
from pydantic import ValidationError

from .config import EVALUATION_SETTINGS, Config, describe
from .errors import CheckpointError, ConfigError

CONFIG_KEY = "config"
"""Where a checkpoint keeps its run's resolved config, as plain JSON-able data."""


class StoreConfig(Callback):
    """Writes the run's resolved config into every checkpoint, under ``CONFIG_KEY``."""

    def __init__(self, config: Config) -> None:
        self.config = config.model_dump(mode="json")

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
        reason = str(error).strip().splitlines()[0][:120] if str(error).strip() else "empty file"
        raise CheckpointError(
            f"{key}: cannot read checkpoint {path} (truncated or not a checkpoint: {reason})"
        ) from None


def trained_config(checkpoint: dict[str, Any], path: Path) -> Config:
    """The config ``checkpoint`` (read from ``path``) was trained with."""
    if CONFIG_KEY not in checkpoint:
        raise CheckpointError(f"{path} holds no training config; was it written by `train`?")
    try:
        return Config.model_validate(checkpoint[CONFIG_KEY])
    except ValidationError as error:
        problem = describe(error)
        raise CheckpointError(f"{path}: its training config no longer validates: {problem}") from None


def for_evaluation(trained: Config, current: Config) -> Config:
    """``trained``, with the settings that may change at evaluation taken from ``current``."""
    raw = trained.model_dump()
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
