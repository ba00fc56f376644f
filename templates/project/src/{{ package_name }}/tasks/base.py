"""What every task shares: the training and evaluation loop, logging and optimisation.

A task subclass only says what its outputs mean: which metrics to track and
how to turn logits into prediction files.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torchmetrics import MetricCollection

from ..checkpoints import CONFIG_KEY, CheckpointError, read_checkpoint, trained_config
from ..components.optim.param_groups import param_groups
from ..components.optim.schedulers import build_scheduler
from ..config import Config
from ..losses import build_loss
from ..model import build_model


class ImageTask(L.LightningModule):
    """Images in, logits out; batches are ``(images (B, 3, H, W), target)``."""

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        self.model = build_model(config.model)
        self.criterion = build_loss(config.losses)
        metrics = self.build_metrics()
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls, checkpoint_path: str | Path, map_location: Any = "cpu"
    ) -> ImageTask:
        """Rebuild the trained task from a checkpoint alone: no config file, no CLI.

        The checkpoint carries its run's config; the model is built from it and the
        trained weights are loaded. ``ClassificationTask.load_from_checkpoint(path)``
        works in a notebook. Call ``.eval()`` before inference, as with any module.
        """
        from . import TASKS  # the package imports this module

        path = Path(checkpoint_path)
        checkpoint = read_checkpoint(path, "checkpoint_path")
        config = trained_config(checkpoint, path)
        task = TASKS[config.task](config)
        if not isinstance(task, cls):
            raise CheckpointError(f"{path} holds a {config.task} task, not a {cls.__name__}")
        task.load_state_dict(checkpoint["state_dict"])
        return task.to(map_location)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[CONFIG_KEY] = self.config.model_dump(mode="json")

    @abstractmethod
    def build_metrics(self) -> MetricCollection:
        """The task's metrics; ``update(logits, target)`` is called on every eval batch."""

    @abstractmethod
    def write_predictions(self, outputs: list[dict[str, Any]], directory: Path) -> Path:
        """Write what ``predict_step`` returned to files in ``directory``; return the main one."""

    def probabilities(self, logits: Tensor) -> Tensor:
        """Class probabilities from logits: softmax over dim 1 (multilabel overrides)."""
        return logits.softmax(dim=1)

    def update_metrics(self, metrics: MetricCollection, logits: Tensor, target: Tensor) -> None:
        metrics.update(self.probabilities(logits), target)

    def forward(self, images: Tensor) -> Tensor:
        if self.config.trainer.channels_last:  # NHWC activations run faster on tensor cores
            images = images.contiguous(memory_format=torch.channels_last)
        return self.model(images)

    def configure_model(self) -> None:
        if self.config.trainer.compile:
            self.model.compile()
        if self.config.trainer.channels_last:
            self.model.to(memory_format=torch.channels_last)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        images, target = batch
        loss = self.criterion(self(images), target)
        self.log("train/loss", loss, prog_bar=True)
        parts = getattr(self.criterion, "parts", {})  # WeightedSum keeps each term
        if len(parts) > 1:
            self.log_dict({f"train/loss_{name}": value for name, value in parts.items()})
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val", self.val_metrics)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test", self.test_metrics)

    def on_validation_epoch_end(self) -> None:
        self._log_metrics(self.val_metrics)

    def on_test_epoch_end(self) -> None:
        self._log_metrics(self.test_metrics)

    def predict_step(self, batch: tuple[Tensor, list[str]], batch_idx: int) -> dict[str, Any]:
        images, paths = batch
        return {"paths": list(paths), "logits": self(images).float().cpu()}

    def configure_optimizers(self) -> dict[str, Any]:
        optim, schedule = self.config.optimizer, self.config.scheduler
        groups = param_groups(self, weight_decay=optim.weight_decay)
        if optim.name == "sgd":
            optimizer = torch.optim.SGD(groups, lr=optim.lr, momentum=optim.momentum, nesterov=True)
        else:
            optimizer = torch.optim.AdamW(groups, lr=optim.lr)
        total_steps = int(self.trainer.estimated_stepping_batches)
        steps_per_epoch = max(1, total_steps // max(1, self.trainer.max_epochs or 1))
        scheduler = build_scheduler(
            optimizer,
            name=schedule.name,
            total_steps=total_steps,
            warmup_steps=int(schedule.warmup_epochs * steps_per_epoch),
            min_lr_factor=schedule.min_lr_factor,
            step_size=schedule.step_epochs * steps_per_epoch,
            gamma=schedule.gamma,
            patience=schedule.patience,
            monitor=self.config.checkpoint.monitor,
            mode=self.config.checkpoint.mode,
        )
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def _evaluate(self, batch: tuple[Tensor, Tensor], stage: str, metrics: MetricCollection) -> None:
        images, target = batch
        logits = self(images)
        self.log(f"{stage}/loss", self.criterion(logits, target), sync_dist=True)
        self.update_metrics(metrics, logits.float(), target)

    def _log_metrics(self, metrics: MetricCollection) -> None:
        """Log scalars as they are and per-class vectors as ``name/<class index>``."""
        for name, value in metrics.compute().items():
            if value.numel() == 1:
                self.log(name, value, prog_bar=True)
            else:
                self.log_dict({f"{name}/{index}": item for index, item in enumerate(value)})
        metrics.reset()
