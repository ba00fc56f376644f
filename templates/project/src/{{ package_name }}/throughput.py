"""How fast training runs, and whether it waits for data or for compute."""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback


class Throughput(Callback):
    """Logs images per second and the share of wall time spent waiting for the next batch.

    A ``data_wait_fraction`` near 1 means the loader is the bottleneck: raise
    ``data.num_workers`` or simplify the augmentations before buying GPUs.
    """

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._wait = self._compute = 0.0
        self._images = 0
        self._last_end = time.perf_counter()

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._start = time.perf_counter()
        self._wait += self._start - self._last_end
        self._images += len(batch[0])

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
        batch_idx: int,
    ) -> None:
        if pl_module.device.type == "cuda":  # kernels run asynchronously: wait to time them
            torch.cuda.synchronize(pl_module.device)
        self._last_end = time.perf_counter()
        self._compute += self._last_end - self._start

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        elapsed = self._wait + self._compute
        if elapsed > 0:
            pl_module.log("throughput/images_per_sec", self._images / elapsed)
            pl_module.log("throughput/data_wait_fraction", self._wait / elapsed)
