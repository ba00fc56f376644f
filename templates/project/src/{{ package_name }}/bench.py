"""``bench``: how fast the current config trains, and what the generated loop costs.

Three timings of ``steps`` training steps with the model, precision and memory
format of the config (every parameter trains: the unfreeze schedule is off):

- ``synthetic``: the project's own Trainer (its callbacks included) on in-memory
  batches already on the device, so the data loader is out of the picture;
- ``loader``: the same Trainer through the real train loader;
- ``plain``: a hand-written PyTorch loop (forward, loss, backward, optimiser
  step) on the same batches, the reference for ``ratio = synthetic / plain``.

On a GPU it also reports model FLOPs per image (forward + backward, counted by
``torch.utils.flop_counter``) and MFU against the device's peak throughput.
"""

from __future__ import annotations

import contextlib
import json
import math
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import move_data_to_device
from torch.utils.flop_counter import FlopCounterMode

from .build import build_data, build_task
from .config import Config
from .errors import ConfigError
from .trainer import build_trainer, resolve_precision

PEAK_TFLOPS = {  # dense tensor-core peaks (fp32: the plain CUDA cores), by device-name substring
    "H200": {"bf16": 989.0, "fp16": 989.0, "tf32": 494.0, "fp32": 67.0},
    "H100": {"bf16": 989.0, "fp16": 989.0, "tf32": 494.0, "fp32": 67.0},
    "A100": {"bf16": 312.0, "fp16": 312.0, "tf32": 156.0, "fp32": 19.5},
    "L4": {"bf16": 121.0, "fp16": 121.0, "tf32": 60.0, "fp32": 30.3},
    "RTX 4090": {"bf16": 165.0, "fp16": 165.0, "tf32": 82.6, "fp32": 82.6},
    "RTX 3090": {"bf16": 71.0, "fp16": 71.0, "tf32": 35.6, "fp32": 35.6},
}
"""Look-up order matters only for names that contain two keys; none do."""


def bench(config: Config, steps: int = 50, peak_tflops: float | None = None) -> Path:
    """Run the three timings, print a summary, write ``<run_dir>/<run_name>/bench.json``."""
    if steps < 2:
        raise ConfigError(f"bench: --steps must be at least 2, got {steps}")
    L.seed_everything(config.trainer.seed)
    path = config.run_dir / config.run_name / "bench.json"
    with tempfile.TemporaryDirectory() as scratch:  # nothing the bench trains is kept
        checkpoint = config.checkpoint.model_copy(update={"save_top_k": 0, "save_last": False})
        config = config.model_copy(
            update={
                "run_dir": Path(scratch),
                "loggers": [],
                "unfreeze": [],
                "checkpoint": checkpoint,
            }
        )
        (config.run_dir / config.run_name).mkdir()  # where the Trainer stores its config
        data = build_data(config)
        data.setup("fit")
        device = build_trainer(config).strategy.root_device
        batch = move_data_to_device(next(iter(data.train_dataloader())), device)
        batches = [batch] * steps
        plain = timed_plain_loop(config, batches)
        synthetic = timed_trainer(config, batches, steps)
        loader = timed_trainer(config, data, steps)
        images = len(batch[0])
        report: dict[str, Any] = {
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "precision": resolve_precision(config.trainer.precision),
            "channels_last": config.trainer.channels_last,
            "batch_size": images,
            "steps": steps,
            "synthetic": synthetic,
            "loader": loader,
            "plain": plain,
            "ratio": synthetic["images_per_sec"] / plain["images_per_sec"],
            "flops_per_image": None,
            "peak_tflops": None,
            "mfu": None,
        }
        if device.type == "cuda":
            report |= model_flops_utilization(config, batch, synthetic, peak_tflops)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(summary(report))
    return path


class StepTimer(Callback):
    """Wall time of the steps after the first ``warmup``, and the part spent between steps.

    The time between one step's end and the next one's start is waiting for data
    (and the loop's own bookkeeping); on a GPU every step is synchronised so that
    the split is honest.
    """

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.step = 0
        self.images = 0
        self.wait = self.elapsed = 0.0

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._start = time.perf_counter()
        if self.step > self.warmup:
            self.wait += self._start - self._end

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        _synchronize(pl_module.device)
        now = time.perf_counter()
        if self.step > self.warmup:
            self.elapsed += now - self._end
            self.images += len(batch[0])
        self._end = now
        self.step += 1


def timed_trainer(config: Config, source: Any, steps: int) -> dict[str, float]:
    """The project's Trainer for ``steps`` steps on a DataModule or a list of batches."""
    if isinstance(source, list):
        epochs, per_epoch, loaders = 1, steps, {"train_dataloaders": Batches(source)}
    else:
        per_epoch = min(steps, len(source.train_dataloader()))
        epochs, loaders = math.ceil(steps / per_epoch), {"datamodule": source}
    settings = config.trainer.model_copy(update={"max_epochs": epochs})
    trainer = build_trainer(config.model_copy(update={"trainer": settings}))
    trainer.limit_train_batches = per_epoch
    trainer.limit_val_batches = 0
    timer = StepTimer(warmup=warmup_steps(steps))
    trainer.callbacks.append(timer)
    with peak_memory(trainer.strategy.root_device) as memory:
        trainer.fit(build_task(config), **loaders)
    return {
        "images_per_sec": timer.images / timer.elapsed,
        "data_wait_fraction": timer.wait / timer.elapsed,
        "peak_memory_mb": memory["mb"],
    }


def timed_plain_loop(config: Config, batches: list[Any]) -> dict[str, float]:
    """Forward, loss, backward and optimiser step by hand, as the Trainer would run them.

    The loss is the task's own ``training_loss`` (what ``training_step`` returns),
    so the comparison times Lightning's loop, not a different model.
    """
    device = batches[0][0].device
    task = build_task(config).to(device)
    task.train()
    if config.trainer.channels_last:  # task.forward makes the images channels-last too
        task.model.to(memory_format=torch.channels_last)
    if config.trainer.compile:
        task.model.compile()
    optimizer = task.make_optimizer()
    precision = resolve_precision(config.trainer.precision)
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype is torch.float16)
    warmup = warmup_steps(len(batches))
    with peak_memory(device) as memory:
        for step, batch in enumerate(batches):
            if step == warmup:
                _synchronize(device)
                start = time.perf_counter()
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                loss = task.training_loss(batch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        _synchronize(device)
    images_timed = (len(batches) - warmup) * len(batches[0][0])
    return {
        "images_per_sec": images_timed / (time.perf_counter() - start),
        "data_wait_fraction": 0.0,
        "peak_memory_mb": memory["mb"],
    }


def model_flops_utilization(
    config: Config, batch: Any, synthetic: dict[str, float], peak_tflops: float | None
) -> dict[str, float | None]:
    """FLOPs per image (forward + backward) and their share of the device's peak."""
    images = batch[0][:2]
    model = build_task(config).model.to(images.device)
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(
        resolve_precision(config.trainer.precision)
    )
    with FlopCounterMode(display=False) as counter:
        with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
            output = model(images)
        output.float().sum().backward()
    flops_per_image = counter.get_total_flops() / len(images)
    peak = peak_tflops or device_peak_tflops(torch.cuda.get_device_name(), number_format(config))
    mfu = None if peak is None else flops_per_image * synthetic["images_per_sec"] / (peak * 1e12)
    return {"flops_per_image": flops_per_image, "peak_tflops": peak, "mfu": mfu}


def number_format(config: Config) -> str:
    """The peak that applies: bf16/fp16 under mixed precision, else TF32 or plain fp32."""
    precision = resolve_precision(config.trainer.precision)
    if precision == "bf16-mixed":
        return "bf16"
    if precision == "16-mixed":
        return "fp16"
    return "fp32" if config.trainer.matmul_precision == "highest" else "tf32"


def device_peak_tflops(device_name: str, kind: str) -> float | None:
    """The table's ``kind`` peak for a name such as ``NVIDIA H100 80GB HBM3``; None if unknown."""
    for key, peaks in PEAK_TFLOPS.items():
        if key in device_name:
            return peaks[kind]
    return None


def summary(report: dict[str, Any]) -> str:
    """The report as one screen of text."""
    lines = [
        f"bench: {report['device']}, {report['precision']}, batch {report['batch_size']}, "
        f"{report['steps']} steps, channels_last={report['channels_last']}",
        f"{'mode':<10} {'images/s':>10} {'data wait':>10} {'peak MB':>10}",
    ]
    for mode in ("synthetic", "loader", "plain"):
        row = report[mode]
        lines.append(
            f"{mode:<10} {row['images_per_sec']:>10.1f} "
            f"{format(row['data_wait_fraction'], '.1%'):>10} {row['peak_memory_mb']:>10.0f}"
        )
    lines.append(f"Trainer / plain loop: {report['ratio']:.3f}")
    if report["flops_per_image"] is not None:
        mfu = "unknown device, pass --peak-tflops" if report["mfu"] is None else format(report["mfu"], ".1%")
        gflops = report["flops_per_image"] / 1e9
        lines.append(f"GFLOPs per image (forward + backward): {gflops:.2f}, MFU: {mfu}")
    return "\n".join(lines)


@contextlib.contextmanager
def peak_memory(device: torch.device) -> Iterator[dict[str, float]]:
    """Peak memory inside the block: CUDA allocations on a GPU, else the process's peak RSS."""
    result: dict[str, float] = {}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    yield result
    if device.type == "cuda":
        result["mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    else:  # Linux reports kilobytes (macOS bytes); the peak since the process started
        result["mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


def warmup_steps(steps: int) -> int:
    """Steps left out of the timing: the first few run slower (allocations, autotuning)."""
    return max(1, min(5, steps // 5))


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Batches:
    """Pre-made batches as one iterable (a bare list would mean several dataloaders)."""

    def __init__(self, batches: list[Any]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[Any]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)
