"""TwoViewFolderDataset and the self-supervised sample data (unlabelled train, labelled val)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from component_library.datasets._io import DatasetError, read_image
from component_library.datasets._shapes import CLASSIFICATION_IMAGES_PER_CLASS, SHAPES
from component_library.datasets.image_folder import ImageFolderDataset
from component_library.datasets.two_view_folder import (
    TwoViewFolderDataset,
    two_view_split,
    write_sample,
)
from component_library.transforms.albumentations_yaml import build_transform
from component_library.transforms.two_views import simclr_steps

NUM_CLASSES, SIZE = 3, 32


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ssl")
    write_sample(root, num_classes=NUM_CLASSES, image_size=SIZE)
    return root


def test_sample_layout_unlabelled_train_and_labelled_val(sample: Path) -> None:
    train = sorted((sample / "train").iterdir())
    assert len(train) == NUM_CLASSES * CLASSIFICATION_IMAGES_PER_CLASS["train"]
    assert all(path.is_file() and path.stem.isdigit() for path in train)  # names give no label
    assert read_image(train[0]).shape == (SIZE, SIZE, 3)
    assert sorted(path.name for path in (sample / "val").iterdir()) == [
        f"{i}_{SHAPES[i]}" for i in range(NUM_CLASSES)
    ]
    val = ImageFolderDataset(sample, "val", NUM_CLASSES)
    assert len(val) == NUM_CLASSES * CLASSIFICATION_IMAGES_PER_CLASS["val"]
    assert not (sample / "test").exists()


def test_sample_is_reproducible(sample: Path, tmp_path: Path) -> None:
    write_sample(tmp_path, num_classes=NUM_CLASSES, image_size=SIZE)
    first = sorted((sample / "train").iterdir())[5]
    np.testing.assert_array_equal(read_image(first), read_image(tmp_path / "train" / first.name))


def test_items_are_two_different_views(sample: Path) -> None:
    dataset = TwoViewFolderDataset(sample / "train", build_transform(simclr_steps(24)))
    assert len(dataset) == len(list((sample / "train").iterdir()))
    views, path = dataset[0]
    assert views.shape == (2, 3, 24, 24) and views.dtype == torch.float32
    assert not torch.equal(views[0], views[1])
    assert path == str(dataset.paths[0])
    batch, paths = next(iter(DataLoader(dataset, batch_size=4)))
    assert batch.shape == (4, 2, 3, 24, 24) and len(paths) == 4


def test_empty_folder_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no images found"):
        TwoViewFolderDataset(tmp_path, build_transform(simclr_steps(24)))


def test_split_reader_gives_views_for_train_labels_for_val_and_nothing_for_absent(
    sample: Path,
) -> None:
    transform = build_transform(simclr_steps(SIZE))
    train = two_view_split(sample, "train", NUM_CLASSES, transform)
    views, _ = train[0]
    assert isinstance(train, TwoViewFolderDataset) and views.shape == (2, 3, SIZE, SIZE)
    val = two_view_split(
        sample, "val", NUM_CLASSES, build_transform([{"__class_fullname__": "ToTensorV2"}])
    )
    image, label = val[len(val) - 1]
    assert image.shape == (3, SIZE, SIZE) and label == NUM_CLASSES - 1
    assert len(val) == NUM_CLASSES * CLASSIFICATION_IMAGES_PER_CLASS["val"]
    assert len(two_view_split(sample, "test", NUM_CLASSES, transform)) == 0
