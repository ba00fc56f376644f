"""Multilabel data listed in ``root/<split>.csv`` with the columns ``path,labels``.

``path`` is relative to ``root``; ``labels`` holds the space-separated class indices
present in the image, and may be empty.
"""

from __future__ import annotations

from pathlib import Path

import albumentations as A
import torch
from torch import Tensor

from ._io import ImageDataset, class_index, existing_file, read_csv, write_image, write_split_csvs
from ._shapes import multilabel_samples, sample_class_names


class MultilabelCsvDataset(ImageDataset[Tensor]):
    """Items are ``(image (3, H, W) float32, target (num_classes,) float32)`` with 0/1 targets."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        num_classes: int,
        transform: A.Compose | None = None,
    ) -> None:
        root = Path(root)
        table = root / f"{split}.csv"
        samples = []
        for line, row in read_csv(table, ["path", "labels"])[1]:
            where = f"{table}:{line}"
            target = torch.zeros(num_classes)
            for label in row["labels"].split():
                target[class_index(label, num_classes, where)] = 1.0
            samples.append((existing_file(root, row["path"], where), target))
        super().__init__(samples, transform, table)


def write_sample(
    root: str | Path, *, num_classes: int = 4, image_size: int = 64, seed: int = 0
) -> list[str]:
    """Write scenes of 1-3 shapes to ``root/images/<split>/``, listed in ``root/<split>.csv``.

    Returns the class names (the shapes).
    """
    root = Path(root)
    rows = []
    for split, name, labels, image in multilabel_samples(num_classes, image_size, seed):
        path = f"images/{split}/{name}.png"
        write_image(root / path, image)
        rows.append((split, (path, " ".join(map(str, labels)))))
    write_split_csvs(root, ("path", "labels"), rows)
    return sample_class_names(num_classes)
