"""The Lightning ``Trainer`` and its callbacks, built from the ``trainer`` config section."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint

from .build import build_callbacks
from .checkpoints import AtomicCheckpointIO, StoreConfig
from .components.callbacks.unfreeze import UnfreezeSchedule
from .config import Config, TrainerConfig
from .loggers import build_loggers
from .throughput import Throughput


def resolve_precision(precision: str) -> str:
    """``auto`` is bf16-mixed where the GPU supports it (Ampere and newer), else full fp32."""
    if precision != "auto":
        return precision
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def build_trainer(config: Config, *, fit: bool = True) -> L.Trainer:
    """A trainer that checkpoints the best and last model into its run directory.

    ``fit=False`` gives a plain trainer for validate/test/predict: no loggers,
    checkpoints or training callbacks, so evaluating never creates a new run.
    With ``trainer.fast_dev_run`` training is a smoke test that keeps no run either.
    """
    settings: TrainerConfig = config.trainer
    torch.set_float32_matmul_precision(settings.matmul_precision)  # TF32 on Ampere+ when "high"
    keep_run = fit and not settings.fast_dev_run
    loggers = build_loggers(config) if keep_run else []
    log_dir = Path(loggers[0].log_dir) if loggers else config.run_dir / config.run_name
    callbacks: list[Callback] = []
    if keep_run:
        callbacks += [
            ModelCheckpoint(
                dirpath=log_dir / "checkpoints",
                filename="best",
                monitor=config.checkpoint.monitor,
                mode=config.checkpoint.mode,
                save_top_k=config.checkpoint.save_top_k,
                auto_insert_metric_name=False,
            ),
            StoreConfig(config),
        ]
        if config.checkpoint.save_last:
            # Lightning's save_last rewrites last.ckpt only when a best checkpoint is saved,
            # so a plateaued metric would leave it epochs behind: resume needs every epoch.
            callbacks.append(ModelCheckpoint(dirpath=log_dir / "checkpoints", filename="last"))
    if fit:
        callbacks += [
            UnfreezeSchedule([stage.model_dump() for stage in config.unfreeze]),
            Throughput(),
            *build_callbacks(config),
        ]
    if loggers:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    return L.Trainer(
        accelerator=settings.accelerator,
        devices=settings.devices,
        num_nodes=settings.num_nodes,
        strategy=settings.strategy,
        precision=resolve_precision(settings.precision),
        max_epochs=settings.max_epochs,
        accumulate_grad_batches=settings.accumulate_grad_batches,
        gradient_clip_val=settings.gradient_clip_val,
        log_every_n_steps=settings.log_every_n_steps,
        logger=loggers or False,
        enable_checkpointing=keep_run,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],  # a kill while saving never leaves a torn last.ckpt
        default_root_dir=log_dir,
        fast_dev_run=settings.fast_dev_run,
        limit_train_batches=settings.limit_train_batches,
        limit_val_batches=settings.limit_val_batches,
        enable_model_summary=False,
        # A configured batch sampler shards the data itself (it reads the process group).
        use_distributed_sampler=config.data.sampler is None,
    )
