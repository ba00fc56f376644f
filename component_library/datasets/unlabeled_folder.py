"""Every image under a folder, without labels: data to predict on."""

from __future__ import annotations

from pathlib import Path

import albumentations as A

from ._io import ImageDataset, list_images


class UnlabeledFolderDataset(ImageDataset[str]):
    """Items are ``(image (3, H, W) float32, image path)``, images found recursively, sorted.

    Attributes:
        paths: the image files, in item order.
    """

    def __init__(self, root: str | Path, transform: A.Compose | None = None) -> None:
        root = Path(root)
        self.paths = list_images(root, recursive=True)
        super().__init__([(path, str(path)) for path in self.paths], transform, root)
