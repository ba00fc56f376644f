"""Segmentation data as ``root/<split>/images/<stem>.<ext>`` and ``root/<split>/masks/<stem>.png``.

Images and masks are matched by file stem. A mask is a single-channel PNG whose
pixels are class indices in ``[0, num_classes)``, or 255 for pixels to ignore.
"""

from __future__ import annotations

from pathlib import Path

import albumentations as A

from ._io import DatasetError, MaskDataset, list_images, write_image
from ._shapes import sample_class_names, segmentation_samples


class MaskFolderDataset(MaskDataset):
    """Items are ``(image (3, H, W) float32, mask (H, W) int64)``, 255 = ignore."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        num_classes: int,
        transform: A.Compose | None = None,
    ) -> None:
        images, masks = Path(root) / split / "images", Path(root) / split / "masks"
        samples = []
        for image in list_images(images):
            mask = masks / f"{image.stem}.png"
            if not mask.is_file():
                raise DatasetError(f"image {image} has no mask {mask}")
            samples.append((image, mask))
        super().__init__(samples, num_classes, transform, images)


def write_sample(
    root: str | Path, *, num_classes: int = 4, image_size: int = 64, seed: int = 0
) -> list[str]:
    """Write shape scenes to ``root/<split>/{images,masks}/<name>.png``; class 0 is background.

    Returns the class names: background, then the shapes.
    """
    for split, name, image, mask in segmentation_samples(num_classes, image_size, seed):
        write_image(Path(root) / split / "images" / f"{name}.png", image)
        write_image(Path(root) / split / "masks" / f"{name}.png", mask)
    return sample_class_names(num_classes, background=True)
