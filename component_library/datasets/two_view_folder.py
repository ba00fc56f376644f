"""Unlabelled images for self-supervised pretraining: two augmented views of each.

The sample data is ``root/train/<name>.png`` without labels, and a small labelled
``root/val/<index>_<shape>/<name>.png`` split in the ``image_folder`` layout
(``ImageFolderDataset(root, "val", num_classes)``) to monitor the features with.
``two_view_split`` reads either split by name, as a project's dataset format does.
"""

from __future__ import annotations

from pathlib import Path

import albumentations as A
from torch.utils.data import Dataset

from ..transforms.two_views import TwoViews
from ._io import write_image
from ._shapes import SHAPES, classification_samples
from .image_folder import ImageFolderDataset
from .unlabeled_folder import UnlabeledFolderDataset


class TwoViewFolderDataset(UnlabeledFolderDataset):
    """Items are ``(views (2, 3, H, W) float32, image path)``, images found recursively, sorted.

    Args:
        root: Folder of images; subfolders and their names are ignored.
        transform: The view pipeline, applied twice per image with fresh random
            parameters; it must end in ``ToTensorV2`` and crop to a fixed size
            (see ``TwoViews``).
    """

    def __init__(self, root: str | Path, transform: A.Compose) -> None:
        super().__init__(root, TwoViews(transform))


def two_view_split(root: str | Path, split: str, num_classes: int, transform: A.Compose) -> Dataset:
    """One split of a self-supervised dataset under ``root``.

    ``train`` is every image under ``root/train`` (any subfolders, no labels) as a
    ``TwoViewFolderDataset``: items ``(views (2, 3, H, W), path)``. Any other split is
    labelled, ``root/<split>/<class name>/<image>`` as ``ImageFolderDataset`` reads it
    (items ``(image (3, H, W), class index)``), and optional: a missing folder gives an
    empty dataset, so pretraining runs without labels and just skips the monitor.
    """
    if split == "train":
        return TwoViewFolderDataset(Path(root) / "train", transform)
    if not (Path(root) / split).is_dir():
        return _Empty()
    return ImageFolderDataset(root, split, num_classes, transform)


class _Empty(Dataset):
    """A split that is not there: no items."""

    def __len__(self) -> int:
        return 0

    def __getitem__(self, index: int) -> None:
        raise IndexError(index)


def write_sample(
    root: str | Path, *, num_classes: int = 4, image_size: int = 64, seed: int = 0
) -> None:
    """Write unlabelled shapes to ``root/train`` and labelled ones to ``root/val/<class>``.

    ``num_classes`` shapes, each with its own outline and colour family, so that the
    images form clusters a network can find without labels.
    """
    root = Path(root)
    samples = classification_samples(num_classes, image_size, seed)
    for number, (split, name, label, image) in enumerate(samples):
        if split == "train":  # numbered, so that file names give no label away
            write_image(root / "train" / f"{number:05d}.png", image)
        elif split == "val":
            write_image(root / "val" / f"{label}_{SHAPES[label]}" / f"{name}.png", image)
