"""Classification data laid out as ``root/<split>/<class name>/<image>``.

Class indices follow the sorted class folder names, so every split needs the same
``num_classes`` folders (an empty folder stands for a class a split lacks).
"""

from __future__ import annotations

from pathlib import Path

import albumentations as A

from ._io import DatasetError, ImageDataset, list_images, write_image
from ._shapes import classification_samples, sample_class_names


class ImageFolderDataset(ImageDataset[int]):
    """Items are ``(image (3, H, W) float32, class index)``.

    Attributes:
        classes: the class folder names; ``classes[i]`` is class ``i``.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        num_classes: int,
        transform: A.Compose | None = None,
    ) -> None:
        folder = Path(root) / split
        if not folder.is_dir():
            raise DatasetError(f"split folder {folder} does not exist")
        class_folders = sorted(
            path for path in folder.iterdir() if path.is_dir() and not path.name.startswith(".")
        )
        if len(class_folders) != num_classes:
            raise DatasetError(
                f"{folder} has {len(class_folders)} class folders but num_classes={num_classes}"
            )
        self.classes = [path.name for path in class_folders]
        samples = [
            (image, label)
            for label, class_folder in enumerate(class_folders)
            for image in list_images(class_folder, recursive=True)
        ]
        super().__init__(samples, transform, folder)


def write_sample(
    root: str | Path, *, num_classes: int = 4, image_size: int = 64, seed: int = 0
) -> list[str]:
    """Write shape images to ``root/{train,val,test}/<index>_<shape>/<name>.png``.

    Returns the class names: the folder names (the index keeps them in class order).
    """
    folders = [f"{index}_{shape}" for index, shape in enumerate(sample_class_names(num_classes))]
    for split, name, label, image in classification_samples(num_classes, image_size, seed):
        write_image(Path(root) / split / folders[label] / f"{name}.png", image)
    return folders
