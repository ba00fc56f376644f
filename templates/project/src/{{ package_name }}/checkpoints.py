"""Checkpoints that describe their run: each one carries the config it was trained with.

``validate``, ``test``, ``predict`` and ``export`` rebuild the model from that
config, so editing ``configs/train.yaml`` after training (another backbone, another
``num_classes``) never breaks evaluating or exporting an earlier run.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins import TorchCheckpointIO
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
        log_dir = trainer.log_dir  # a broadcast under DDP: every rank must ask, or rank 0 waits
        if trainer.is_global_zero and log_dir is not None:
            text = yaml.safe_dump(self.config, sort_keys=False)
            (Path(log_dir) / "config.yaml").write_text(text)

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[CONFIG_KEY] = self.config


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint beside its target, then renames it into place.

    A process killed while writing (SIGKILL, a node lost mid-epoch) leaves a stray
    ``*.ckpt.tmp`` and the previous ``last.ckpt`` whole, so ``resume`` always finds a
    readable checkpoint: ``os.replace`` swaps the file atomically on one filesystem.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        path = Path(path)
        partial = path.with_name(f"{path.name}.tmp")
        super().save_checkpoint(checkpoint, partial, storage_options)
        with partial.open("rb+") as file:  # on disk before the rename, should the node die
            os.fsync(file.fileno())
        os.replace(partial, path)


def resume_path(config: Config) -> Path | None:
    """The checkpoint ``resume`` names; ``last`` is the newest ``last.ckpt`` of the run."""
    if config.resume is None or isinstance(config.resume, Path):
        return config.resume
    run = config.run_dir / config.run_name
    candidates = sorted(
        run.glob("version_*/checkpoints/last.ckpt"), key=lambda path: path.stat().st_mtime
    )
    if not candidates:
        raise CheckpointError(f"resume: last: no last.ckpt under {run}; train first")
    return candidates[-1]


def resumed_version(config: Config) -> str | None:
    """The ``version_N`` folder that ``resume`` continues, if the checkpoint is this run's.

    Resuming ``<run_dir>/<run_name>/version_N/checkpoints/last.ckpt`` logs into that
    same folder; a checkpoint from elsewhere starts a new version.
    """
    path = resume_path(config)
    if path is None or path.parent.name != "checkpoints":
        return None
    run = path.parent.parent
    same = run.parent.resolve() == (config.run_dir / config.run_name).resolve()
    return run.name if same else None


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
    path = resume_path(config)
    if path is None:
        return
    trained = trained_config(read_checkpoint(path, "resume"), path, "resume")
    difference = _first_difference(trained.model.model_dump(), config.model.model_dump(), "model")
    if difference is not None:
        raise CheckpointError(
            f"resume: {path} was trained with another {difference}; "
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
