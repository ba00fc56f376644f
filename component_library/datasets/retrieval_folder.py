"""Retrieval data laid out as ``root/<split>/<identity>/<image>``, one folder per identity.

Every image is a query against all the others (role ``both``), so in val and
test each identity needs at least two images. Val and test hold identities
never seen in training (the open-set protocol of SOP, CUB and In-Shop).
"""

from __future__ import annotations

from pathlib import Path

import albumentations as A

from ._io import DatasetError, list_images, write_image
from ._retrieval import RetrievalDataset, RetrievalRow
from ._shapes import retrieval_samples


class RetrievalFolderDataset(RetrievalDataset):
    """Items are ``(image (3, H, W) float32, RetrievalTarget)``; identities are the folder
    names, labels their sorted order.

    ``num_classes``: the number of identities for a training split (checked),
    ``None`` for an evaluation split (every identity needs two images); see
    ``RetrievalDataset``.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        num_classes: int | None = None,
        transform: A.Compose | None = None,
    ) -> None:
        folder = Path(root) / split
        if not folder.is_dir():
            raise DatasetError(f"split folder {folder} does not exist")
        rows = [
            RetrievalRow(image, identity.name, "both", str(identity))
            for identity in sorted(folder.iterdir())
            if identity.is_dir() and not identity.name.startswith(".")
            for image in list_images(identity, recursive=True)
        ]
        super().__init__(rows, num_classes, transform, folder)


def write_sample(
    root: str | Path, *, num_classes: int = 72, image_size: int = 64, seed: int = 0
) -> None:
    """Write identity images to ``root/{train,val,test}/<identity>/<number>.png``:
    ``num_classes`` training identities, 18 new ones in each of val and test."""
    for split, identity, number, image in retrieval_samples(num_classes, image_size, seed):
        write_image(Path(root) / split / identity / f"{number}.png", image)
