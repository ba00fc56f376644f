"""Detection data in YOLO txt: ``root/data.yaml`` and ``root/{images,labels}/<split>/``.

``data.yaml`` holds the class names, ``names: [cat, dog]`` or
``names: {0: cat, 1: dog}``, and may give a split's image folder relative to
``root`` (``val: images/validation``); by default it is ``images/<split>``.
Each image ``<stem>.<ext>`` has its labels in ``<stem>.txt`` of the folder
with the same path but ``labels`` for ``images``. A label file holds one box
per line, ``class cx cy w h``, with the centre and size normalised to
``[0, 1]`` by the image width and height. A missing or empty label file means
an image without boxes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import yaml
from PIL import Image

from ._detection import DetectionDataset, DetectionSample, check_box, detection_collate
from ._io import DatasetError, class_index, list_images, write_image
from ._shapes import SHAPES, detection_samples

__all__ = ["YoloDetectionDataset", "detection_collate", "write_sample"]


class YoloDetectionDataset(DetectionDataset):
    """Items are ``(image (3, H, W) float32, target dict)``; see ``_detection`` for the target.

    ``image_id`` is the image's index in the sorted split folder.

    Attributes:
        classes: the names from ``data.yaml``.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        num_classes: int,
        transform: A.Compose | None = None,
    ) -> None:
        root = Path(root)
        config = _read_yaml(root / "data.yaml")
        names = _class_names(config, root / "data.yaml")
        if len(names) != num_classes:
            raise DatasetError(
                f"{root / 'data.yaml'}: {len(names)} class names, but num_classes is {num_classes}"
            )
        images = root / str(config.get(split, f"images/{split}"))
        labels = _labels_folder(images)
        samples = []
        for image_id, path in enumerate(list_images(images)):
            width, height = _image_size(path)
            rows = _read_labels(labels / f"{path.stem}.txt", num_classes, width, height)
            samples.append(
                DetectionSample(
                    path=path,
                    image_id=image_id,
                    height=height,
                    width=width,
                    boxes=np.array([box for box, _ in rows], dtype=np.float32).reshape(-1, 4),
                    labels=np.array([label for _, label in rows], dtype=np.int64),
                    iscrowd=np.zeros(len(rows), dtype=np.int64),
                )
            )
        super().__init__(samples, names, transform, images)


def write_sample(
    root: str | Path, *, num_classes: int = 4, image_size: int = 128, seed: int = 0
) -> None:
    """Write shape scenes as ``root/images/<split>/<name>.png`` with YOLO labels and data.yaml."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text(yaml.safe_dump({"names": list(SHAPES[:num_classes])}))
    for split, name, image, boxes, labels in detection_samples(num_classes, image_size, seed):
        write_image(root / "images" / split / f"{name}.png", image)
        lines = [
            f"{label} {(x0 + x1) / 2 / image_size:.6f} {(y0 + y1) / 2 / image_size:.6f} "
            f"{(x1 - x0) / image_size:.6f} {(y1 - y0) / image_size:.6f}\n"
            for (x0, y0, x1, y1), label in zip(boxes.tolist(), labels.tolist(), strict=True)
        ]
        label_file = root / "labels" / split / f"{name}.txt"
        label_file.parent.mkdir(parents=True, exist_ok=True)
        label_file.write_text("".join(lines))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DatasetError(f"cannot read {path}: {error.strerror or error}") from error
    except yaml.YAMLError as error:
        raise DatasetError(f"{path}: not valid YAML ({' '.join(str(error).split())})") from error
    if not isinstance(config, dict) or "names" not in config:
        raise DatasetError(f"{path}: expected a mapping with the class names under names:")
    return config


def _class_names(config: dict[str, Any], path: Path) -> list[str]:
    names = config["names"]
    if isinstance(names, dict):
        if sorted(names) != list(range(len(names))):
            raise DatasetError(
                f"{path}: names keys must be the class indices 0 .. {len(names) - 1}"
            )
        return [str(names[index]) for index in range(len(names))]
    if isinstance(names, list):
        return [str(name) for name in names]
    raise DatasetError(f"{path}: names must be a list or a mapping of index to name")


def _labels_folder(images: Path) -> Path:
    """The labels folder next to ``images``: its last ``images`` path part becomes ``labels``."""
    parts = list(images.parts)
    if "images" not in parts:
        raise DatasetError(f"image folder {images} has no 'images' part to map to 'labels'")
    position = len(parts) - 1 - parts[::-1].index("images")
    labels = Path(*parts[:position], "labels", *parts[position + 1 :])
    if not labels.is_dir():
        raise DatasetError(f"label folder {labels} (for images in {images}) does not exist")
    return labels


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image header, without decoding the pixels."""
    try:
        with Image.open(path) as image:
            return image.size
    except OSError as error:
        raise DatasetError(f"cannot read image {path}: {error}") from error


def _read_labels(
    path: Path, num_classes: int, width: int, height: int
) -> list[tuple[list[float], int]]:
    """``[(xyxy pixel box, class index)]`` from one label file; none if it does not exist."""
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{number}"
        if len(fields) != 5:
            raise DatasetError(f"{where}: expected 'class cx cy w h', got {len(fields)} fields")
        label = class_index(fields[0], num_classes, where)
        try:
            cx, cy, w, h = (float(field) for field in fields[1:])
        except ValueError:
            raise DatasetError(
                f"{where}: cx cy w h must be numbers, got {line.strip()!r}"
            ) from None
        box = [
            (cx - w / 2) * width,
            (cy - h / 2) * height,
            (cx + w / 2) * width,
            (cy + h / 2) * height,
        ]
        rows.append((check_box(box, width, height, where), label))
    return rows
