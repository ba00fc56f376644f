"""Multilabel data listed in ``root/<split>.csv``: a ``path`` column and one 0/1 column per class.

``path`` is relative to ``root``. The other columns, in file order, are the classes.
"""

from __future__ import annotations

from pathlib import Path

import albumentations as A
import torch
from torch import Tensor

from ._io import DatasetError, ImageDataset, existing_file, read_csv, write_image, write_split_csvs
from ._shapes import multilabel_samples, sample_class_names


class OneHotCsvDataset(ImageDataset[Tensor]):
    """Items are ``(image (3, H, W) float32, target (num_classes,) float32)`` with 0/1 targets.

    Attributes:
        classes: the class column names; ``classes[i]`` is class ``i``.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        num_classes: int,
        transform: A.Compose | None = None,
    ) -> None:
        root = Path(root)
        table = root / f"{split}.csv"
        header, rows = read_csv(table, ["path"])
        self.classes = [column for column in header if column != "path"]
        if len(self.classes) != num_classes:
            raise DatasetError(
                f"{table}: {len(self.classes)} class columns but num_classes={num_classes}"
            )
        samples = []
        for line, row in rows:
            where = f"{table}:{line}"
            target = torch.zeros(num_classes)
            for index, column in enumerate(self.classes):
                value = row[column].strip()
                if value not in ("0", "1"):
                    raise DatasetError(
                        f"{where}: column {column!r} holds {value!r}, expected 0 or 1"
                    )
                target[index] = float(value)
            samples.append((existing_file(root, row["path"], where), target))
        super().__init__(samples, transform, table)


def write_sample(
    root: str | Path, *, num_classes: int = 4, image_size: int = 64, seed: int = 0
) -> list[str]:
    """Write scenes of 1-3 shapes to ``root/images/<split>/``, listed in ``root/<split>.csv``.

    The class columns are named after the shapes; returns those names.
    """
    root = Path(root)
    rows = []
    for split, name, labels, image in multilabel_samples(num_classes, image_size, seed):
        path = f"images/{split}/{name}.png"
        write_image(root / path, image)
        rows.append((split, (path, *(int(index in labels) for index in range(num_classes)))))
    names = sample_class_names(num_classes)
    write_split_csvs(root, ("path", *names), rows)
    return names
