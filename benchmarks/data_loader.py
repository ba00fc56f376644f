"""Is the project's data loader as fast as a bare cv2 + albumentations loop?

Writes N realistic JPEGs (480x360: gradients, filled shapes and sensor-like
noise, quality 90) in the ``image_folder`` layout, then measures images per
second through one ``torch.utils.data.DataLoader`` setting (workers, batch size,
shuffle) for

(a) a bare loop: a minimal Dataset doing ``cv2.imread`` + ``cv2.cvtColor`` and
    the albumentations pipeline, the fastest code a user would write by hand;
(b) the project's ``ImageFolderDataset`` (reading through ``datasets/_io.py``).

Both use the same pipeline: RandomResizedCrop, HorizontalFlip, Normalize,
ToTensorV2. The two are measured alternately (a b, b a, a b, ...) so that load
from other processes hits both alike; each timing is one full epoch, worker
start included. Printed: the medians of images per second, of images per CPU
second (this process and its workers: steadier than wall time when other
processes share the cores), and the ratios (b) / (a).

    python benchmarks/data_loader.py [--images 1200] [--batch-size 64] [--workers 2]
        [--image-size 224] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import torch
from albumentations.pytorch import ToTensorV2
from torch.utils.data import DataLoader, Dataset

from component_library.datasets.image_folder import ImageFolderDataset

NUM_CLASSES = 4
WIDTH, HEIGHT = 480, 360


def write_jpegs(root: Path, count: int, seed: int = 0) -> None:
    """``count`` natural-looking 480x360 JPEGs under ``root/train/<class>/``, quality 90."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    for index in range(count):
        top, bottom = rng.uniform(0, 255, (2, 3)).astype(np.float32)
        angle = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(angle) * xs / WIDTH + np.sin(angle) * ys / HEIGHT + 1) / 2
        image = top + (bottom - top) * ramp[..., None]
        for _ in range(rng.integers(3, 9)):
            color = tuple(float(c) for c in rng.uniform(0, 255, 3))
            center = (int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT)))
            if rng.random() < 0.5:
                cv2.circle(image, center, int(rng.integers(10, 120)), color, -1, cv2.LINE_AA)
            else:
                size = rng.integers(20, (200, 150))
                corner = (center[0] + int(size[0]), center[1] + int(size[1]))
                cv2.rectangle(image, center, corner, color, -1, cv2.LINE_AA)
        image = cv2.GaussianBlur(image, (0, 0), 1.5) + rng.normal(0, 6, image.shape)
        label = index % NUM_CLASSES
        path = root / "train" / f"class_{label}" / f"{index:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        bgr = np.clip(image, 0, 255).astype(np.uint8)
        cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])


class BareDataset(Dataset[tuple[torch.Tensor, int]]):
    """The hand-written baseline: cv2 decode, the pipeline, the label."""

    def __init__(self, samples: list[tuple[Path, int]], transform: A.Compose) -> None:
        self.samples = samples
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        image = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        return self.transform(image=image)["image"], label


def cpu_seconds() -> float:
    """CPU time of this process and of its exited children (the epoch's workers)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(dataset: Dataset, batch_size: int, workers: int) -> tuple[float, float]:
    """One epoch: ``(images per second, images per CPU second)``, workers included."""
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=False
    )
    start, start_cpu = time.perf_counter(), cpu_seconds()
    count = sum(len(images) for images, _ in loader)  # the end joins the workers: CPU counted
    return count / (time.perf_counter() - start), count / (cpu_seconds() - start_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    transform = A.Compose(
        [
            A.RandomResizedCrop(size=(args.image_size, args.image_size)),
            A.HorizontalFlip(),
            A.Normalize(),
            ToTensorV2(),
        ]
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_jpegs(root, args.images)
        project = ImageFolderDataset(root, "train", NUM_CLASSES, transform)
        bare = BareDataset(list(project.samples), transform)
        loader_args = (args.batch_size, args.workers)
        measure(bare, *loader_args)  # warm the page cache
        wall: dict[str, list[float]] = {"bare": [], "project": []}
        cpu: dict[str, list[float]] = {"bare": [], "project": []}
        for repeat in range(args.repeats):
            order = ("bare", "project") if repeat % 2 == 0 else ("project", "bare")
            for name in order:
                rate, cpu_rate = measure(project if name == "project" else bare, *loader_args)
                wall[name].append(rate)
                cpu[name].append(cpu_rate)
            print(
                f"repeat {repeat}: bare {wall['bare'][-1]:.0f} img/s, "
                f"project {wall['project'][-1]:.0f} img/s, "
                f"ratio {wall['project'][-1] / wall['bare'][-1]:.3f}",
                flush=True,
            )
    print(
        f"{args.images} JPEGs {WIDTH}x{HEIGHT} -> {args.image_size}, batch {args.batch_size}, "
        f"{args.workers} workers, torch {torch.__version__}, cv2 {cv2.__version__}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    for unit, rates in (("img/s", wall), ("img/CPU-s", cpu)):
        bare_rate, project_rate = (statistics.median(rates[name]) for name in ("bare", "project"))
        ratios = [p / b for p, b in zip(rates["project"], rates["bare"], strict=True)]
        print(
            f"{unit:>9}: bare cv2 loop {bare_rate:6.1f}, project loader {project_rate:6.1f} "
            f"(medians of {args.repeats}), ratio {project_rate / bare_rate:.3f}; per-repeat "
            f"ratios median {statistics.median(ratios):.3f}, "
            f"range {min(ratios):.3f}-{max(ratios):.3f}"
        )


if __name__ == "__main__":
    main()
