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
start included, and the medians and the ratio (b) / (a) are printed.

    python benchmarks/data_loader.py [--images 1200] [--batch-size 64] [--workers 2]
        [--image-size 224] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
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


def images_per_second(dataset: Dataset, batch_size: int, workers: int) -> float:
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=False
    )
    start = time.perf_counter()
    count = sum(len(images) for images, _ in loader)
    return count / (time.perf_counter() - start)


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
        images_per_second(bare, args.batch_size, args.workers)  # warm the page cache
        rates: dict[str, list[float]] = {"bare": [], "project": []}
        for repeat in range(args.repeats):
            order = ("bare", "project") if repeat % 2 == 0 else ("project", "bare")
            for name in order:
                dataset = bare if name == "bare" else project
                rates[name].append(images_per_second(dataset, args.batch_size, args.workers))
            print(
                f"repeat {repeat}: bare {rates['bare'][-1]:.0f} img/s, "
                f"project {rates['project'][-1]:.0f} img/s, "
                f"ratio {rates['project'][-1] / rates['bare'][-1]:.3f}",
                flush=True,
            )
    bare_rate = statistics.median(rates["bare"])
    project_rate = statistics.median(rates["project"])
    ratios = [p / b for p, b in zip(rates["project"], rates["bare"], strict=True)]
    print(
        f"{args.images} JPEGs {WIDTH}x{HEIGHT} -> {args.image_size}, batch {args.batch_size}, "
        f"{args.workers} workers, torch {torch.__version__}, cv2 {cv2.__version__}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"bare cv2 loop  {bare_rate:8.1f} img/s (median of {args.repeats})")
    print(f"project loader {project_rate:8.1f} img/s (median of {args.repeats})")
    print(
        f"ratio {project_rate / bare_rate:.3f} (medians); per-repeat ratios median "
        f"{statistics.median(ratios):.3f}, range {min(ratios):.3f}-{max(ratios):.3f}"
    )


if __name__ == "__main__":
    main()
