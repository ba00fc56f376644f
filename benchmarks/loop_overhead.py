"""Does the generated training loop cost anything over a hand-written PyTorch loop?

Generates the default project, then trains its model on the same synthetic
in-memory batches twice: once with a plain ``for`` loop (forward, loss,
backward, AdamW step) and once with the project's own ``Trainer`` from
``build_trainer`` (its callbacks, precision handling and logging included).
Prints images per second for both and their ratio. On a GPU it also reports
MFU, from the model's forward FLOPs counted by ``torch.utils.flop_counter``.

    python benchmarks/loop_overhead.py [--steps 60] [--batch-size 32] [--image-size 64]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from pathlib import Path

import torch
from typer.testing import CliRunner

from okgen.cli import app

PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense bf16 tensor-core peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--backbone", default="resnet18")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        result = CliRunner().invoke(
            app,
            [
                "new",
                "bench",
                "--yes",
                "-o",
                tmp,
                "--backbone",
                args.backbone,
                "--image-size",
                str(args.image_size),
            ],
        )
        assert result.exit_code == 0, result.output
        sys.path.insert(0, str(Path(tmp) / "bench" / "src"))
        config_module = importlib.import_module("bench.config")
        config = config_module.load_config(
            Path(tmp) / "bench" / "configs" / "train.yaml",
            [
                f"run_dir={tmp}/runs",
                "loggers=[]",
                f"data.batch_size={args.batch_size}",
                "trainer.max_epochs=1",
            ],
        )
        device = "cuda" if torch.cuda.is_available() else "cpu"
        batches = synthetic_batches(args, config.model.num_classes, device)
        plain = [plain_loop(config, batches) for _ in range(2)][-1]  # the first run warms up
        lightning = [lightning_loop(config, batches) for _ in range(2)][-1]
        print(
            f"device {device}: plain {plain:.1f} img/s, generated Trainer {lightning:.1f} img/s, "
            f"ratio {lightning / plain:.3f}"
        )
        if device == "cuda":
            print(f"MFU: {mfu(config, args, lightning):.1%}")


def synthetic_batches(args: argparse.Namespace, num_classes: int, device: str) -> list:
    generator = torch.Generator().manual_seed(0)
    shape = (args.batch_size, 3, args.image_size, args.image_size)
    return [
        (
            torch.randn(shape, generator=generator).to(device),
            torch.randint(0, num_classes, (args.batch_size,), generator=generator).to(device),
        )
        for _ in range(args.steps)
    ]


def plain_loop(config, batches: list, skip: int = 5) -> float:
    """Images per second of a hand-written loop, timed after ``skip`` warm-up steps."""
    task = (
        importlib.import_module("bench.tasks").TASKS[config.task](config).to(batches[0][0].device)
    )
    optimizer = torch.optim.AdamW(task.model.parameters(), lr=config.optimizer.lr)
    task.train()
    for step, (images, target) in enumerate(batches):
        if step == skip:
            _synchronize()
            start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(task.model(images), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _synchronize()
    return (len(batches) - skip) * len(batches[0][0]) / (time.perf_counter() - start)


def lightning_loop(config, batches: list) -> float:
    """Images per second of the project's own Trainer, as its Throughput callback measures."""
    task = importlib.import_module("bench.tasks").TASKS[config.task](config)
    trainer = importlib.import_module("bench.trainer").build_trainer(config)
    trainer.limit_val_batches = 0
    trainer.fit(task, train_dataloaders=Batches(batches))
    return float(trainer.callback_metrics["throughput/images_per_sec"])


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class Batches:
    """Pre-made batches as one iterable (a bare list would mean several dataloaders)."""

    def __init__(self, batches: list) -> None:
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def mfu(config, args: argparse.Namespace, images_per_sec: float) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    model = importlib.import_module("bench.model").build_model(config.model).cuda()
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, args.image_size, args.image_size, device="cuda")).sum().backward()
    flops_per_image = counter.get_total_flops()  # forward + backward
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_TFLOPS.items() if k in name), 989.0) * 1e12
    return flops_per_image * images_per_sec / peak


if __name__ == "__main__":
    main()
