"""Shared by the detection dataset formats: box checks, box-aware transforms and collation.

Every format is read into ``DetectionSample`` records with boxes as ``xyxy``
pixels of the original image. ``DetectionDataset`` reads an image, runs the
albumentations pipeline on it and its boxes, and returns
``(image (3, H, W) float32, target)`` with the target dict:

- ``boxes``: ``(N, 4)`` float32 ``xyxy`` in pixels of the returned image;
- ``labels``: ``(N,)`` int64 contiguous class indices in ``[0, K)``;
- ``iscrowd``: ``(N,)`` int64, 1 for a crowd region (left out of the loss,
  matched by the metric without counting as a miss);
- ``image_id``: int64 scalar, the image's id in its annotation file (COCO)
  or its index in the dataset (YOLO);
- ``orig_size``: ``(2,)`` int64 ``(height, width)`` of the image file, to map
  predictions back to the original pixels (valid for pipelines that only resize).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import albumentations as A
import numpy as np
import torch
from albumentations.core.bbox_utils import (
    convert_bboxes_from_albumentations,
    convert_bboxes_to_albumentations,
)
from torch import Tensor
from torch.utils.data import Dataset

from ._io import DatasetError, read_image, to_tensor

BOX_TOLERANCE = 1.0
"""Pixels a box may reach past the image border (rounding in annotation tools); it is clipped."""


@dataclass(frozen=True)
class DetectionSample:
    """One image and its boxes, as read from an annotation file."""

    path: Path
    image_id: int
    height: int
    width: int
    boxes: np.ndarray
    """(N, 4) float32 xyxy pixels, inside the image."""
    labels: np.ndarray
    """(N,) int64 class indices."""
    iscrowd: np.ndarray
    """(N,) int64, 0 or 1."""


def check_box(box: Sequence[float], width: int, height: int, where: str) -> list[float]:
    """An ``xyxy`` pixel box clipped to the ``width x height`` image, or a ``DatasetError``.

    ``where`` names the culprit (``"a.json: annotation id 7"``). The box must
    have a positive width and height and may reach at most ``BOX_TOLERANCE``
    pixels past the image border.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    shown = f"[{x0:g}, {y0:g}, {x1:g}, {y1:g}] (xyxy)"
    if not (x1 > x0 and y1 > y0):
        raise DatasetError(f"{where}: box {shown} has zero area")
    if min(x0, y0) < -BOX_TOLERANCE or x1 > width + BOX_TOLERANCE or y1 > height + BOX_TOLERANCE:
        raise DatasetError(f"{where}: box {shown} lies outside the {width}x{height} image")
    return [max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height))]


class DetectionDataset(Dataset[tuple[Tensor, dict[str, Tensor]]]):
    """``DetectionSample`` records -> ``(image (3, H, W) float32, target dict)``.

    Args:
        samples: the images and their boxes.
        class_names: name of each class index.
        transform: albumentations pipeline built with ``bbox_params`` (see
            ``build_transform``); its box format and ``min_visibility`` apply, and
            its label fields, if any, receive the box indices. ``None`` returns
            the images as they are.
        source: the annotation file or folder, named when there are no images.
    """

    def __init__(
        self,
        samples: Sequence[DetectionSample],
        class_names: Sequence[str],
        transform: A.Compose | None,
        source: Path,
    ) -> None:
        if not samples:
            raise DatasetError(f"{source}: no images found")
        if transform is not None and "bboxes" not in transform.processors:
            raise ValueError(
                "detection transform has no bbox_params, so boxes would not follow the image: "
                "build it with bbox_params (e.g. {format: pascal_voc})"
            )
        self.samples = list(samples)
        self.classes = list(class_names)  # what the data names its classes
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Tensor]]:
        sample = self.samples[index]
        image = read_image(sample.path)
        if image.shape[:2] != (sample.height, sample.width):
            raise DatasetError(
                f"image {sample.path} is {image.shape[1]}x{image.shape[0]} (WxH), its "
                f"annotations say {sample.width}x{sample.height}"
            )
        boxes, kept = sample.boxes, np.arange(len(sample.boxes))
        if self.transform is not None:
            image, boxes, kept = _transform(self.transform, image, boxes)
        target = {
            "boxes": torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.as_tensor(sample.labels[kept], dtype=torch.long),
            "iscrowd": torch.as_tensor(sample.iscrowd[kept], dtype=torch.long),
            "image_id": torch.tensor(sample.image_id),
            "orig_size": torch.tensor([sample.height, sample.width]),
        }
        return to_tensor(image), target


def detection_collate(
    batch: Sequence[tuple[Tensor, dict[str, Tensor]]],
) -> tuple[Tensor, list[dict[str, Tensor]]]:
    """Items of one image size -> ``(images (B, 3, H, W), [target dict per image])``.

    Targets stay a list because each image holds a different number of boxes.
    """
    images, targets = zip(*batch, strict=True)
    return torch.stack(images), list(targets)


def _transform(
    transform: A.Compose, image: np.ndarray, boxes: np.ndarray
) -> tuple[np.ndarray | Tensor, np.ndarray, np.ndarray]:
    """Run a box-aware pipeline: (image, boxes xyxy) -> (image, kept boxes xyxy, kept indices).

    The boxes go in and come out in the pipeline's own format; a fifth column
    carries each box's index through, so labels and flags follow the kept boxes.
    """
    params = transform.processors["bboxes"].params
    indices = np.arange(len(boxes), dtype=np.float32)
    before = _convert(boxes, "pascal_voc", params.format, image.shape[:2])
    out = transform(
        image=image,
        bboxes=np.column_stack([before, indices]).reshape(-1, 5),
        **{field: indices for field in params.label_fields or []},
    )
    image, result = out["image"], np.asarray(out["bboxes"], dtype=np.float32).reshape(-1, 5)
    size = image.shape[-2:] if isinstance(image, Tensor) else image.shape[:2]
    after = _convert(result[:, :4], params.format, "pascal_voc", size)
    return image, after, result[:, 4].round().astype(np.int64)


def _convert(boxes: np.ndarray, source: str, target: str, size: tuple[int, int]) -> np.ndarray:
    """(N, 4) boxes from one albumentations format to another, for an image of ``size`` (H, W)."""
    if source == target or not len(boxes):
        return boxes.reshape(-1, 4)
    shape = {"height": size[0], "width": size[1]}
    normalised = (
        boxes
        if source == "albumentations"
        else convert_bboxes_to_albumentations(boxes, source, shape)
    )
    if target == "albumentations":
        return normalised
    return convert_bboxes_from_albumentations(normalised, target, shape)
