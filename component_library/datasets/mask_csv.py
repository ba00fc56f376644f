"""Segmentation data listed in ``root/<split>.csv`` with the columns ``image,mask``.

Both paths are relative to ``root``. A mask is a single-channel PNG whose pixels
are class indices in ``[0, num_classes)``, or 255 for pixels to ignore.
"""

from __future__ import annotations

from pathlib import Path

import albumentations as A

from ._io import MaskDataset, existing_file, read_csv, write_image, write_split_csvs
from ._shapes import sample_class_names, segmentation_samples


class MaskCsvDataset(MaskDataset):
    """Items are ``(image (3, H, W) float32, mask (H, W) int64)``, 255 = ignore."""

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
                existing_file(root, row["image"], f"{table}:{line}"),
                existing_file(root, row["mask"], f"{table}:{line}"),
            )
            for line, row in read_csv(table, ["image", "mask"])[1]
        ]
        super().__init__(samples, num_classes, transform, table)


def write_sample(
    root: str | Path, *, num_classes: int = 4, image_size: int = 64, seed: int = 0
) -> list[str]:
    """Write shape scenes to ``root/{images,masks}/<split>/``, listed in ``root/<split>.csv``.

    Returns the class names: background, then the shapes.
    """
    root = Path(root)
    rows = []
    for split, name, image, mask in segmentation_samples(num_classes, image_size, seed):
        image_path, mask_path = f"images/{split}/{name}.png", f"masks/{split}/{name}.png"
        write_image(root / image_path, image)
        write_image(root / mask_path, mask)
        rows.append((split, (image_path, mask_path)))
    write_split_csvs(root, ("image", "mask"), rows)
    return sample_class_names(num_classes, background=True)
