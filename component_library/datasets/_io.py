"""Reading and writing dataset files, shared by every dataset format.

Images are read as ``(H, W, 3)`` uint8 RGB arrays (decoded by OpenCV) and masks as
``(H, W)`` uint8 class-index arrays (decoded by PIL). ``ImageDataset`` and
``MaskDataset`` turn a list of samples into ``(image (3, H, W) float32, target)``
items, applying an albumentations transform when one is given. Every problem with
the user's files raises ``DatasetError`` with a one-line message that names the file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

import albumentations as A
import cv2
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import Dataset

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
IGNORE_INDEX = 255
"""Mask value for pixels that count towards no class."""

MASK_MODES = ("L", "P", "1")
"""PIL modes of single-channel masks: grayscale, palette (the index is the class) and binary."""

T = TypeVar("T")

# Each DataLoader worker decodes and augments one image at a time. OpenCV's own thread
# pool in every worker would oversubscribe the cores (workers x cores threads fighting
# for them), so OpenCV runs single-threaded, as torch does in workers. Set at import so
# that it holds in forked and in spawned workers alike (spawned ones re-import this).
cv2.setNumThreads(0)


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or holds a value the dataset cannot use."""


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as an ``(H, W, 3)`` uint8 RGB array.

    Grayscale is repeated over the channels, alpha is dropped (not composited),
    palettes are applied and 16-bit images keep their high byte (``value >> 8``).
    EXIF orientation is ignored: pixels come as stored, as box annotations count them.
    A truncated JPEG decodes with its missing part gray, as libjpeg does.
    """
    image = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        # cv2.imread returns None without a reason, and for files PIL can still read:
        # formats OpenCV has no codec for (TGA, PCX, ICO) and, on Windows, non-ASCII
        # paths. PIL reads those, and names the reason for every other failure.
        return _read_image_pil(path)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB, dst=image)


def _read_image_pil(path: str | Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.array(image.convert("RGB"))
    except OSError as error:
        raise DatasetError(f"cannot read image {path}: {_reason(error)}") from error


def read_mask(path: str | Path) -> np.ndarray:
    """Read a single-channel PNG of class indices as an ``(H, W)`` uint8 array."""
    # PIL, not OpenCV: OpenCV turns a palette PNG into the palette's colours and a
    # 1-bit PNG into 0/255, losing the class indices that both hold.
    try:
        with Image.open(path) as image:
            if image.mode not in MASK_MODES:
                raise DatasetError(
                    f"mask {path} has mode {image.mode}, expected a single-channel image "
                    f"of class indices (one of {', '.join(MASK_MODES)})"
                )
            return np.asarray(image).astype(np.uint8)
    except OSError as error:
        raise DatasetError(f"cannot read mask {path}: {_reason(error)}") from error


def write_image(path: str | Path, array: np.ndarray) -> None:
    """Write an ``(H, W, 3)`` RGB or ``(H, W)`` single-channel uint8 array as a PNG file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG")


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    """Sorted image files in ``folder`` (by suffix, case-insensitive), skipping hidden files."""
    if not folder.is_dir():
        raise DatasetError(f"image folder {folder} does not exist")
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        path
        for path in candidates
        if path.suffix.lower() in IMAGE_SUFFIXES
        and not path.name.startswith(".")
        and path.is_file()
    )


def read_csv(
    path: Path, columns: Sequence[str]
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Read a CSV file whose header holds ``columns``: ``(header, [(line number, row), ...])``."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.DictReader(file)
            header = list(reader.fieldnames or [])
            missing = [column for column in columns if column not in header]
            if missing:
                raise DatasetError(
                    f"{path}: missing column(s) {', '.join(missing)} (header: {','.join(header)})"
                )
            rows = []
            for row in reader:
                if None in row or None in row.values():
                    raise DatasetError(
                        f"{path}:{reader.line_num}: expected {len(header)} fields like the header"
                    )
                rows.append((reader.line_num, row))
    except OSError as error:
        raise DatasetError(f"cannot read {path}: {_reason(error)}") from error
    return header, rows


def write_split_csvs(
    root: Path, header: Sequence[str], rows: Iterable[tuple[str, Sequence[object]]]
) -> None:
    """Write ``(split, row)`` pairs to ``root/<split>.csv``, each file starting with ``header``."""
    by_split: dict[str, list[Sequence[object]]] = {}
    for split, row in rows:
        by_split.setdefault(split, []).append(row)
    for split, split_rows in by_split.items():
        with (root / f"{split}.csv").open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(header)
            writer.writerows(split_rows)


def existing_file(root: Path, relative: str, where: str) -> Path:
    """``root / relative``, or a ``DatasetError`` naming ``where`` (``"a.csv:3"``) if missing."""
    path = root / relative.strip()
    if not path.is_file():
        raise DatasetError(f"{where}: file {path} does not exist")
    return path


def class_index(value: str, num_classes: int, where: str) -> int:
    """Parse a class index in ``[0, num_classes)``; ``where`` names the file and line at fault."""
    try:
        index = int(value)
    except ValueError:
        raise DatasetError(f"{where}: label {value!r} is not an integer class index") from None
    if not 0 <= index < num_classes:
        raise DatasetError(f"{where}: label {index} is outside [0, {num_classes})")
    return index


def to_tensor(image: np.ndarray | Tensor) -> Tensor:
    """``(H, W, C)`` array or ``(C, H, W)`` tensor -> ``(C, H, W)`` float32.

    uint8 images are scaled to [0, 1]; float images (e.g. after ``Normalize``) are kept.
    """
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    if image.dtype == torch.uint8:
        return image.float().div_(255)
    return image.float()


def apply_transform(
    transform: A.Compose | None, image: np.ndarray, mask: np.ndarray | None = None
) -> tuple[Tensor, Tensor | None]:
    """Transform an ``(H, W, 3)`` image (and its ``(H, W)`` mask, identically).

    Returns the image as ``(3, H', W')`` float32 (see ``to_tensor``) and the mask as
    ``(H', W')`` int64, or ``None`` without a mask.
    """
    if transform is not None:
        out = transform(image=image) if mask is None else transform(image=image, mask=mask)
        image, mask = out["image"], out.get("mask")
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(np.ascontiguousarray(mask))
    return to_tensor(image), None if mask is None else mask.long()


class ImageDataset(Dataset[tuple[Tensor, T]], Generic[T]):
    """``(image path, target)`` samples, read as ``(image (3, H, W) float32, target)``.

    Args:
        samples: one ``(image path, target)`` pair per item.
        transform: albumentations pipeline applied to the ``(H, W, 3)`` uint8 image.
        source: the file or folder the samples came from, named when there are none.
    """

    def __init__(
        self, samples: Sequence[tuple[Path, T]], transform: A.Compose | None, source: Path
    ) -> None:
        if not samples:
            raise DatasetError(f"{source}: no images found")
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Tensor, T]:
        path, target = self.samples[index]
        image, _ = apply_transform(self.transform, read_image(path))
        return image, target


class MaskDataset(ImageDataset[Path]):
    """``(image path, mask path)`` samples -> ``(image (3, H, W) float32, mask (H, W) int64)``.

    Mask pixels hold class indices in ``[0, num_classes)`` or ``IGNORE_INDEX``; image
    and mask go through the transform together, so they stay aligned.
    """

    def __init__(
        self,
        samples: Sequence[tuple[Path, Path]],
        num_classes: int,
        transform: A.Compose | None,
        source: Path,
    ) -> None:
        super().__init__(samples, transform, source)
        self.num_classes = num_classes

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image_path, mask_path = self.samples[index]
        image, mask = read_image(image_path), read_mask(mask_path)
        if mask.shape != image.shape[:2]:
            raise DatasetError(
                f"mask {mask_path} is {_size(mask)} but image {image_path} is {_size(image)}"
            )
        invalid = mask[(mask >= self.num_classes) & (mask != IGNORE_INDEX)]
        if invalid.size:
            raise DatasetError(
                f"mask {mask_path} holds value {invalid.max()}, expected class indices "
                f"in [0, {self.num_classes}) or {IGNORE_INDEX} (ignore)"
            )
        return apply_transform(self.transform, image, mask)


def _size(array: np.ndarray) -> str:
    return f"{array.shape[1]}x{array.shape[0]} (WxH)"


def _reason(error: OSError) -> str:
    if isinstance(error, UnidentifiedImageError):
        return "not an image, or in a format neither OpenCV nor PIL reads"
    return error.strerror or str(error).splitlines()[0]
