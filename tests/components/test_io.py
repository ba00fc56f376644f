"""Image decoding in datasets/_io.py: OpenCV for images (PIL as the fallback), PIL for masks.

Expected pixels come from the arrays written, or from PIL's decoder for lossy JPEG.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from component_library.datasets._io import DatasetError, read_image, read_mask

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (6, 10, 3), dtype=np.uint8)


def _read(path: Path) -> np.ndarray:
    image = read_image(path)
    assert image.dtype == np.uint8 and image.shape == (*image.shape[:2], 3)
    assert image.flags.c_contiguous and image.flags.writeable
    return image


def test_png_comes_back_rgb_exactly(tmp_path: Path) -> None:
    Image.fromarray(RGB).save(tmp_path / "x.png")
    np.testing.assert_array_equal(_read(tmp_path / "x.png"), RGB)


def test_jpeg_decodes_as_pil_does_in_rgb_order(tmp_path: Path) -> None:
    red_left_blue_right = np.zeros((16, 32, 3), np.uint8)
    red_left_blue_right[:, :16, 0] = 250
    red_left_blue_right[:, 16:, 2] = 250
    Image.fromarray(red_left_blue_right).save(tmp_path / "x.jpg", quality=90)
    image = _read(tmp_path / "x.jpg")
    with Image.open(tmp_path / "x.jpg") as reference:
        np.testing.assert_array_equal(image, np.array(reference.convert("RGB")))
    assert image[:, :16, 0].mean() > 200 and image[:, :16, 2].mean() < 50
    assert image[:, 16:, 2].mean() > 200 and image[:, 16:, 0].mean() < 50


def test_grayscale_png_repeats_over_channels(tmp_path: Path) -> None:
    gray = RGB[..., 1]
    Image.fromarray(gray, mode="L").save(tmp_path / "gray.png")
    np.testing.assert_array_equal(_read(tmp_path / "gray.png"), np.repeat(gray[..., None], 3, -1))


def test_rgba_png_drops_alpha(tmp_path: Path) -> None:
    alpha = np.zeros((*RGB.shape[:2], 1), np.uint8)  # fully transparent: colours still kept
    Image.fromarray(np.concatenate([RGB, alpha], -1), mode="RGBA").save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(_read(tmp_path / "rgba.png"), RGB)


def test_palette_png_image_applies_the_palette(tmp_path: Path) -> None:
    palette = RNG.integers(0, 256, (256, 3), dtype=np.uint8)
    indices = RNG.integers(0, 256, (5, 7), dtype=np.uint8)
    image = Image.fromarray(indices, mode="L").convert("P")
    image.putpalette(palette.ravel().tolist())
    image.putdata(indices.ravel().tolist())
    image.save(tmp_path / "palette.png")
    np.testing.assert_array_equal(_read(tmp_path / "palette.png"), palette[indices])


def test_16_bit_png_keeps_the_high_byte(tmp_path: Path) -> None:
    gray = np.array([[0, 255, 256, 511, 32768, 65535]], np.uint16)
    assert cv2.imwrite(str(tmp_path / "gray16.png"), gray)
    expected = (gray >> 8).astype(np.uint8)
    np.testing.assert_array_equal(_read(tmp_path / "gray16.png"), np.dstack([expected] * 3))

    rgb = np.stack([gray, gray[:, ::-1], gray // 2], -1)
    assert cv2.imwrite(str(tmp_path / "rgb16.png"), rgb[..., ::-1])  # OpenCV writes BGR
    np.testing.assert_array_equal(_read(tmp_path / "rgb16.png"), (rgb >> 8).astype(np.uint8))


def test_exif_orientation_is_ignored(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees to display"
    Image.fromarray(RGB).save(tmp_path / "rotated.jpg", exif=exif)
    with Image.open(tmp_path / "rotated.jpg") as reference:
        np.testing.assert_array_equal(_read(tmp_path / "rotated.jpg"), np.array(reference))


def test_format_opencv_cannot_read_falls_back_to_pil(tmp_path: Path) -> None:
    Image.fromarray(RGB).save(tmp_path / "x.tga")
    assert cv2.imread(str(tmp_path / "x.tga")) is None
    np.testing.assert_array_equal(_read(tmp_path / "x.tga"), RGB)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("corrupt.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4, "not an image"),
        ("notes.png", b"just some text, not pixels\n", "not an image"),
        ("cut.png", None, "truncated|broken|cannot|not an image"),
    ],
)
def test_unreadable_file_raises_one_line_naming_it(
    name: str, content: bytes | None, reason: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    if content is None:  # a PNG cut after its header
        Image.fromarray(RGB).save(path)
        content = path.read_bytes()[:60]
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=re.escape(str(path))) as caught:
        read_image(path)
    message = str(caught.value)
    assert "\n" not in message and re.search(reason, message), message


def test_missing_file_raises_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=rf"{re.escape(str(tmp_path / 'gone.jpg'))}: No such"):
        read_image(tmp_path / "gone.jpg")


def test_image_goes_to_torch_without_a_copy_or_warning(tmp_path: Path) -> None:
    Image.fromarray(RGB).save(tmp_path / "x.png")
    image = read_image(tmp_path / "x.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns about read-only arrays
        tensor = torch.from_numpy(image)
    assert tensor.data_ptr() == image.ctypes.data


def test_opencv_runs_single_threaded_for_dataloader_workers() -> None:
    assert cv2.getNumThreads() == 1


@pytest.mark.parametrize("mode", ["P", "L"])
def test_masks_keep_class_indices(mode: str, tmp_path: Path) -> None:
    classes = RNG.integers(0, 5, (4, 9), dtype=np.uint8)
    mask = Image.fromarray(classes, mode="L")
    if mode == "P":
        mask = mask.convert("P")
        mask.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9, 200, 100, 50])
        mask.putdata(classes.ravel().tolist())
    mask.save(tmp_path / "mask.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "mask.png"), classes)


def test_binary_mask_reads_0_and_1(tmp_path: Path) -> None:
    classes = RNG.integers(0, 2, (4, 9), dtype=np.uint8)
    Image.fromarray(classes.astype(bool)).save(tmp_path / "mask.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "mask.png"), classes)
