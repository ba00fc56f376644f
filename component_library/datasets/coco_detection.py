"""Detection data in COCO JSON: ``root/annotations/instances_<split>.json`` and ``root/<split>/``.

This is the layout of COCO 2017 itself (split ``train2017`` reads
``annotations/instances_train2017.json`` and the images in ``train2017/``).
Each image's ``file_name`` is relative to the split folder. Boxes are
``bbox: [x, y, width, height]`` in pixels. Category ids may be any integers:
sorted by id they become the class indices ``0 .. K-1``, and
``category_ids[k]`` maps index ``k`` back (for COCO results files). Crowd
annotations (``iscrowd: 1``) are kept with their flag; images without
annotations are valid and have no boxes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np

from ._detection import DetectionDataset, DetectionSample, check_box, detection_collate
from ._io import DatasetError, existing_file, write_image
from ._shapes import SHAPES, detection_samples

__all__ = ["CocoDetectionDataset", "detection_collate", "write_sample"]


class CocoDetectionDataset(DetectionDataset):
    """Items are ``(image (3, H, W) float32, target dict)``; see ``_detection`` for the target.

    Attributes:
        classes: category name of each class index.
        category_ids: COCO category id of each class index.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        num_classes: int,
        transform: A.Compose | None = None,
    ) -> None:
        path = Path(root) / "annotations" / f"instances_{split}.json"
        data = _read_json(path)
        categories = sorted(data["categories"], key=lambda category: category["id"])
        if len(categories) != num_classes:
            raise DatasetError(
                f"{path}: {len(categories)} categories, but num_classes is {num_classes}"
            )
        self.category_ids = [int(category["id"]) for category in categories]
        index_of = {category_id: index for index, category_id in enumerate(self.category_ids)}
        images: dict[int, dict[str, Any]] = {}
        for image in data["images"]:
            where = f"{path}: image id {image.get('id')}"
            _require(image, ("id", "file_name", "width", "height"), where)
            images[image["id"]] = image
        boxes: dict[int, list[tuple[list[float], int, int]]] = {id_: [] for id_ in images}
        for annotation in data["annotations"]:
            where = f"{path}: annotation id {annotation.get('id')}"
            _require(annotation, ("id", "image_id", "category_id", "bbox"), where)
            image = images.get(annotation["image_id"])
            if image is None:
                raise DatasetError(f"{where}: image id {annotation['image_id']} is not in images")
            if annotation["category_id"] not in index_of:
                raise DatasetError(
                    f"{where}: unknown category id {annotation['category_id']} "
                    f"(categories: {', '.join(map(str, self.category_ids))})"
                )
            if not (isinstance(annotation["bbox"], list) and len(annotation["bbox"]) == 4):
                raise DatasetError(f"{where}: bbox must be [x, y, width, height]")
            x, y, w, h = annotation["bbox"]
            box = check_box([x, y, x + w, y + h], image["width"], image["height"], where)
            crowd = int(annotation.get("iscrowd", 0))
            boxes[image["id"]].append((box, index_of[annotation["category_id"]], crowd))
        folder = Path(root) / split
        samples = []
        for image_id, image in images.items():
            rows = boxes[image_id]
            samples.append(
                DetectionSample(
                    path=existing_file(folder, image["file_name"], f"{path}: image id {image_id}"),
                    image_id=image_id,
                    height=image["height"],
                    width=image["width"],
                    boxes=np.array([r[0] for r in rows], dtype=np.float32).reshape(-1, 4),
                    labels=np.array([r[1] for r in rows], dtype=np.int64),
                    iscrowd=np.array([r[2] for r in rows], dtype=np.int64),
                )
            )
        super().__init__(samples, [c["name"] for c in categories], transform, path)


def write_sample(
    root: str | Path, *, num_classes: int = 4, image_size: int = 128, seed: int = 0
) -> None:
    """Write shape scenes as ``root/<split>/<name>.png`` with their COCO annotation files.

    Category ids are 1, 3, 5, ... (as in COCO, they need not be contiguous).
    """
    root = Path(root)
    categories = [{"id": 2 * k + 1, "name": SHAPES[k]} for k in range(num_classes)]
    files: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for split, name, image, boxes, labels in detection_samples(num_classes, image_size, seed):
        data = files.setdefault(split, {"images": [], "annotations": [], "categories": categories})
        image_id = len(data["images"]) + 1
        write_image(root / split / f"{name}.png", image)
        data["images"].append(
            {"id": image_id, "file_name": f"{name}.png", "width": image_size, "height": image_size}
        )
        for (x0, y0, x1, y1), label in zip(boxes.tolist(), labels.tolist(), strict=True):
            data["annotations"].append(
                {
                    "id": len(data["annotations"]) + 1,
                    "image_id": image_id,
                    "category_id": categories[label]["id"],
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                    "iscrowd": 0,
                }
            )
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for split, data in files.items():
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(data))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DatasetError(f"cannot read {path}: {error.strerror or error}") from error
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from error
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a JSON object with images and annotations")
    _require(data, ("images", "annotations", "categories"), str(path))
    return data


def _require(item: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    missing = [key for key in keys if key not in item]
    if missing:
        raise DatasetError(f"{where}: missing key(s) {', '.join(missing)}")
