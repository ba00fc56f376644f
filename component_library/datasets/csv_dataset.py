"""Classification data listed in ``root/<split>.csv`` with the columns ``path,label``.

``path`` is relative to ``root``; ``label`` is the class index in ``[0, num_classes)``.
"""

from __future__ import annotations

from pathlib import Path

import albumentations as A

from ._io import (
    ImageDataset,
    class_index,
    existing_file,
    read_csv,
    write_image,
    write_split_csvs,
)
from ._shapes import classification_samples, sample_class_names


class CsvDataset(ImageDataset[int]):
    """Items are ``(image (3, H, W) float32, class index)``."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        num_classes: int,
        transform: A.Compose | None = None,
    ) -> None:
        root = Path(root)
        table = root / f"{split}.csv"
        samples = [
            (
                existing_file(root, row["path"], f"{table}:{line}"),
                class_index(row["label"], num_classes, f"{table}:{line}"),
            )
            for line, row in read_csv(table, ["path", "label"])[1]
        ]
        super().__init__(samples, transform, table)


def write_sample(
    root: str | Path, *, num_classes: int = 4, image_size: int = 64, seed: int = 0
) -> list[str]:
    """Write shape images to ``root/images/<split>/`` and list them in ``root/<split>.csv``.

    Returns the class names (the shapes).
    """
    root = Path(root)
    rows = []
    for split, name, label, image in classification_samples(num_classes, image_size, seed):
        path = f"images/{split}/{name}.png"
        write_image(root / path, image)
        rows.append((split, (path, label)))
    write_split_csvs(root, ("path", "label"), rows)
    return sample_class_names(num_classes)
