"""What every task shares: the training and evaluation loop, logging and optimisation.

A task is built from the parts it uses (the network, the loss, the metrics and
the optimiser settings), not from the whole config, so a notebook or another
project can reuse it or swap one part. ``build.py`` assembles it from the config.
A subclass only says what its outputs mean: which metrics suit it and how to turn
logits into prediction files.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import numpy as np
import torch
from matplotlib.patches import Patch
from torch import Tensor, nn
from torchmetrics import MetricCollection

from ..components.optim.param_groups import param_groups
from ..components.optim.schedulers import build_scheduler
from ..config import OptimizerConfig, SchedulerConfig
from ..errors import CheckpointError
from ..plots import Tile
from ..quiet import SANITY_CHECK_NOISE

PER_CLASS = "_per_class"
"""The ending of a metric that holds one value per class (``iou_per_class``, ``ap_per_class``).
Told by name, not shape: torchmetrics squeezes every one-element result, so a one-class
model's vector arrives as a scalar."""


class ImageTask(L.LightningModule):
    """Images in, logits out; batches are ``(images (B, 3, H, W), target)``.

    Args:
        model: ``images (B, 3, H, W) -> logits``.
        criterion: ``(logits, target) -> scalar loss``, any ``nn.Module``. If it has
            a ``parts`` dict (``WeightedSum`` does), each part is logged too.
        metrics: The task's metrics, updated with ``(probabilities, target)``;
            cloned for validation (``val/``) and test (``test/``).
        optimizer: Optimiser settings: name, learning rate, weight decay, momentum.
        scheduler: Learning-rate schedule: warmup, then cosine, step, constant or plateau.
        monitor: The logged metric ``plateau`` watches, and ``"min"`` or ``"max"``.
        diagnostics: Metrics whose test values ``draw_diagnostics`` draws (see
            ``diagnostic_metrics``); updated like ``metrics``, on the test split only.
        channels_last: Run the model on NHWC tensors (faster on tensor-core GPUs).
        compile: ``torch.compile`` the model before training.
    """

    metrics_factory: ClassVar[Callable[..., MetricCollection]]
    """``(num_classes, **config.metrics) -> MetricCollection``: the task's default metrics."""
    shared_metric_settings: ClassVar[tuple[str, ...]] = ()
    """Settings under ``metrics:`` that the task also takes as keyword arguments."""
    head_classifies: ClassVar[bool] = True
    """The head outputs one logit per class; False: an embedding (see ``build_model``)."""

    def __init__(
        self,
        model: nn.Module,
        criterion: nn.Module,
        metrics: MetricCollection,
        optimizer: OptimizerConfig,
        scheduler: SchedulerConfig,
        *,
        monitor: tuple[str, str] = ("val/loss", "min"),
        channels_last: bool = False,
        compile: bool = False,
        diagnostics: MetricCollection | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.criterion = criterion
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.optimizer_settings = optimizer
        self.scheduler_settings = scheduler
        self.monitor = monitor
        self.channels_last = channels_last
        self.compile_model = compile
        self.diagnostics = diagnostics if diagnostics is not None else MetricCollection({})
        self.diagnosis: dict[str, Tensor] = {}  # what diagnostics computed at the end of test
        self.class_names: list[str] = []  # for pictures and tables; empty: the indices

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls, checkpoint_path: str | Path, map_location: Any = "cpu"
    ) -> ImageTask:
        """Rebuild the trained task from a checkpoint alone: no config file, no CLI.

        Checkpoints written by ``train`` carry their run's config; the task is built
        from it and the trained weights are loaded, so
        ``ClassificationTask.load_from_checkpoint(path)`` works in a notebook.
        Call ``.eval()`` before inference, as with any module.
        """
        from ..build import load_task  # build.py imports this module

        _, task = load_task(Path(checkpoint_path), "checkpoint_path")
        if not isinstance(task, cls):
            raise CheckpointError(f"{checkpoint_path} holds a {type(task).__name__}, not a {cls.__name__}")
        return task.to(map_location)

    @abstractmethod
    def write_predictions(self, outputs: list[dict[str, Any]], directory: Path) -> Path:
        """Write what ``predict_step`` returned to files in ``directory``; return the main one."""

    @classmethod
    def diagnostic_metrics(cls, num_classes: int) -> MetricCollection:
        """The metrics behind the task's test pictures (none here; see ``draw_diagnostics``)."""
        return MetricCollection({})

    def draw_diagnostics(
        self, directory: Path, to_picture: Callable[[Tensor], np.ndarray]
    ) -> list[Path]:
        """Draw the task's standard test pictures from ``self.diagnosis`` into ``directory``.

        ``to_picture`` turns a normalised image ``(3, H, W)`` back into ``(H, W, 3)`` uint8.
        Returns the files written (none here).
        """
        return []

    def preview_tile(
        self, image: Tensor, target: Any, to_picture: Callable[[Tensor], np.ndarray]
    ) -> Tile:
        """How ``preview`` shows a training item ``(image, target)`` as the dataset gives it.

        ``to_picture`` turns ``image (3, H, W)`` into ``(H, W, 3)`` uint8 (de-normalised).
        Here the picture alone; tasks add their labels.
        """
        return Tile(to_picture(image))

    def legend(self, count: int) -> list[Patch]:
        """Legend entries of the colours the task's pictures use for ``count`` classes (none)."""
        return []

    def name_of(self, index: int) -> str:
        """The name of class ``index``: from ``class_names``, else the index itself."""
        return self.class_names[index] if index < len(self.class_names) else str(index)

    def names(self, count: int) -> Sequence[str]:
        """The names of classes ``0 .. count - 1``."""
        return [self.name_of(index) for index in range(count)]

    def probabilities(self, logits: Tensor) -> Tensor:
        """Class probabilities from logits: softmax over dim 1 (multilabel overrides)."""
        return logits.softmax(dim=1)

    def exportable(self) -> tuple[nn.Module, list[str]]:
        """The module ONNX export traces (images in, tensors out) and its output names."""
        return self.model, ["logits"]

    @classmethod
    def loss_arguments(cls, model: nn.Module) -> dict[str, Any]:
        """Keyword arguments every loss of this task takes from the built network (none)."""
        return {}

    def update_metrics(self, metrics: MetricCollection, logits: Tensor, target: Tensor) -> None:
        metrics.update(self.probabilities(logits.float()), target)

    def forward(self, images: Tensor) -> Tensor:
        if self.channels_last:  # NHWC activations run faster on tensor cores
            images = images.contiguous(memory_format=torch.channels_last)
        return self.model(images)

    def configure_model(self) -> None:
        if self.compile_model:
            self.model.compile()
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)

    def training_loss(self, batch: tuple[Tensor, Any]) -> Tensor:
        """The loss of one training batch ``(images, target)``: the losses of the outputs."""
        images, target = batch
        return self.criterion(self(images), target)

    def training_step(self, batch: tuple[Tensor, Any], batch_idx: int) -> Tensor:
        loss = self.training_loss(batch)
        batch_size = len(batch[0])
        self.log("train/loss", loss, prog_bar=True, batch_size=batch_size)
        parts = getattr(self.criterion, "parts", {})
        if len(parts) > 1:
            named = {f"train/loss_{name}": value for name, value in parts.items()}
            self.log_dict(named, batch_size=batch_size)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val", self.val_metrics)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test", self.test_metrics)

    def on_validation_epoch_end(self) -> None:
        if self._trainer is None or not self.trainer.sanity_checking:
            self._log_metrics(self.val_metrics)
            return
        message, module = SANITY_CHECK_NOISE
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=message, module=module)
            self._log_metrics(self.val_metrics)

    def on_test_epoch_end(self) -> None:
        self._log_metrics(self.test_metrics)
        if self.diagnostics:
            self.diagnosis = self.diagnostics.compute()
            self.diagnostics.reset()

    def predict_step(
        self, batch: tuple[Tensor, list[str]], batch_idx: int, dataloader_idx: int = 0
    ) -> dict[str, Any]:
        """Paths and outputs of a batch; with several loaders Lightning keeps them apart."""
        images, paths = batch
        return {"paths": list(paths), "logits": self(images).float().cpu()}

    def make_optimizer(self) -> torch.optim.Optimizer:
        """AdamW or Nesterov SGD, without weight decay on norm layers and biases."""
        settings = self.optimizer_settings
        groups = param_groups(self, weight_decay=settings.weight_decay)
        if settings.name == "sgd":
            return torch.optim.SGD(groups, lr=settings.lr, momentum=settings.momentum, nesterov=True)
        return torch.optim.AdamW(groups, lr=settings.lr)

    def configure_optimizers(self) -> dict[str, Any]:
        schedule = self.scheduler_settings
        optimizer = self.make_optimizer()
        total_steps = int(self.trainer.estimated_stepping_batches)
        steps_per_epoch = max(1, total_steps // max(1, self.trainer.max_epochs or 1))
        monitor, mode = self.monitor
        scheduler = build_scheduler(
            optimizer,
            name=schedule.name,
            total_steps=total_steps,
            warmup_steps=int(schedule.warmup_epochs * steps_per_epoch),
            min_lr_factor=schedule.min_lr_factor,
            step_size=schedule.step_epochs * steps_per_epoch,
            gamma=schedule.gamma,
            patience=schedule.patience,
            monitor=monitor,
            mode=mode,
        )
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def _evaluate(self, batch: tuple[Tensor, Tensor], stage: str, metrics: MetricCollection) -> None:
        images, target = batch
        logits = self(images)
        loss = self.criterion(logits, target)
        self.log(f"{stage}/loss", loss, sync_dist=True, batch_size=len(images))
        self.update_metrics(metrics, logits, target)
        if stage == "test" and self.diagnostics:
            self.update_diagnostics(images, target, logits)

    def update_diagnostics(self, images: Tensor, target: Any, logits: Tensor) -> None:
        """Add a test batch to ``diagnostics`` (tasks that keep examples also keep some)."""
        self.update_metrics(self.diagnostics, logits, target)

    def _log_metrics(self, metrics: MetricCollection) -> None:
        """Log scalars as they are and per-class values (``PER_CLASS``, or any vector) as
        ``name/<class name>``."""
        for name, value in metrics.compute().items():
            if value.ndim == 0 and not name.endswith(PER_CLASS):
                self.log(name, value, prog_bar=True)
            else:
                per_class = value.reshape(-1)
                self.log_dict({f"{name}/{self.name_of(k)}": item for k, item in enumerate(per_class)})
        metrics.reset()
