"""Dataset formats: each catalogue format reads back its sample data; bad files fail loudly."""

from __future__ import annotations

import hashlib
import importlib
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from component_library.datasets._io import (
    DatasetError,
    read_image,
    read_mask,
    to_tensor,
    write_image,
)
from component_library.datasets._shapes import (
    SHAPES,
    classification_samples,
    draw_scene,
    multilabel_samples,
    segmentation_samples,
)
from component_library.datasets.csv_dataset import CsvDataset
from component_library.datasets.image_folder import ImageFolderDataset
from component_library.datasets.mask_csv import MaskCsvDataset
from component_library.datasets.mask_folder import MaskFolderDataset
from component_library.datasets.multilabel_csv import MultilabelCsvDataset
from component_library.datasets.onehot_csv import OneHotCsvDataset
from component_library.datasets.unlabeled_folder import UnlabeledFolderDataset
from component_library.transforms.albumentations_yaml import build_transform

from .catalogue import entries, load

NUM_CLASSES = 4
SIZE = 64
SPLITS = ("train", "val", "test")


def _module(name: str):
    return importlib.import_module(load("datasets", name).__module__)


# Detection and self-supervised formats have their own tests (test_detection_datasets.py,
# test_two_view_folder.py).
FORMATS = [
    name
    for name, entry in entries("datasets").items()
    if hasattr(_module(name), "write_sample")
    and entry["tasks"] not in (["detection"], ["self_supervised"])
]
MASK_FORMATS = [name for name in FORMATS if entries("datasets")[name]["tasks"] == ["segmentation"]]

PIPELINE = """
- {__class_fullname__: HorizontalFlip, p: 0.5}
- __class_fullname__: OneOf
  p: 1.0
  transforms:
    - {__class_fullname__: RandomBrightnessContrast, p: 1.0}
    - {__class_fullname__: GaussNoise, p: 1.0}
- {__class_fullname__: Normalize}
- {__class_fullname__: ToTensorV2}
"""


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each format's sample data, written once for the module."""
    roots = {}
    for name in FORMATS:
        roots[name] = tmp_path_factory.mktemp(name)
        _module(name).write_sample(roots[name], num_classes=NUM_CLASSES, image_size=SIZE)
    return roots


@pytest.fixture
def sample_copy(samples: dict[str, Path], tmp_path: Path):
    """A writable copy of one format's sample data, for tests that break files."""

    def copy(name: str) -> Path:
        return Path(shutil.copytree(samples[name], tmp_path / name))

    return copy


def _task(name: str) -> str:
    return entries("datasets")[name]["tasks"][0]


def _classes(name: str, split: str) -> int | None:
    """``num_classes`` for a split: open-set formats take None for val and test."""
    return None if entries("datasets")[name].get("open_set") and split != "train" else NUM_CLASSES


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


# --- every catalogue format ------------------------------------------------------------------


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("split", SPLITS)
def test_sample_reads_back(name: str, split: str, samples: dict[str, Path]) -> None:
    dataset = load("datasets", name)(samples[name], split, _classes(name, split))
    assert len(dataset) > 0
    image, target = dataset[len(dataset) // 2]
    assert image.shape == (3, SIZE, SIZE) and image.dtype == torch.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    task = _task(name)
    if task == "classification":
        assert isinstance(target, int) and 0 <= target < NUM_CLASSES
        assert {label for _, label in dataset.samples} == set(range(NUM_CLASSES))
    elif task == "segmentation":
        assert target.shape == (SIZE, SIZE) and target.dtype == torch.int64
        assert target.min() >= 0 and target.max() < NUM_CLASSES
        assert (target == 0).any() and (target > 0).any()
    elif task == "representation":
        assert 0 <= target.label < len(dataset.identities)
        assert target.index == len(dataset) // 2 and (target.is_query or target.is_gallery)
        assert sorted(set(dataset.labels)) == list(range(len(dataset.identities)))
        if split == "train":
            assert len(dataset.identities) == NUM_CLASSES
    else:
        assert target.shape == (NUM_CLASSES,) and target.dtype == torch.float32
        assert set(target.unique().tolist()) <= {0.0, 1.0} and target.sum() >= 1


@pytest.mark.parametrize("name", FORMATS)
def test_sample_is_deterministic(name: str, samples: dict[str, Path], tmp_path: Path) -> None:
    _module(name).write_sample(tmp_path, num_classes=NUM_CLASSES, image_size=SIZE)
    assert _tree_digest(tmp_path) == _tree_digest(samples[name])


@pytest.mark.parametrize("name", [n for n in FORMATS if _task(n) != "representation"])
def test_sample_names_its_classes(name: str, tmp_path: Path) -> None:
    """``write_sample`` returns the names of the classes it drew, in class order."""
    names = _module(name).write_sample(tmp_path, num_classes=NUM_CLASSES, image_size=SIZE)
    dataset = load("datasets", name)(tmp_path, "train", NUM_CLASSES)
    if hasattr(dataset, "classes"):  # the data names its classes itself: the same names
        assert names == dataset.classes
    if _task(name) == "segmentation":  # class 0 is the background; the shapes follow
        assert names == ["background", *SHAPES[: NUM_CLASSES - 1]]
    elif name != "image_folder":
        assert names == list(SHAPES[:NUM_CLASSES])


@pytest.mark.parametrize("name", FORMATS)
def test_without_transform_image_is_scaled_to_unit_range(
    name: str, samples: dict[str, Path]
) -> None:
    dataset = load("datasets", name)(samples[name], "val", _classes(name, "val"))
    image, _ = dataset[0]
    raw = torch.from_numpy(read_image(dataset.samples[0][0])).permute(2, 0, 1)
    torch.testing.assert_close(image, raw.float() / 255)


@pytest.mark.parametrize("name", FORMATS)
def test_yaml_pipeline_applies(name: str, samples: dict[str, Path]) -> None:
    transform = build_transform(yaml.safe_load(PIPELINE))
    classes = _classes(name, "val")
    dataset = load("datasets", name)(samples[name], "val", classes, transform=transform)
    image, target = dataset[0]
    assert image.shape == (3, SIZE, SIZE) and image.dtype == torch.float32
    assert image.min() < 0  # normalized with the ImageNet mean and std
    if _task(name) == "segmentation":
        assert target.shape == (SIZE, SIZE) and target.dtype == torch.int64


@pytest.mark.parametrize("name", FORMATS)
def test_flip_moves_image_and_target_together(name: str, samples: dict[str, Path]) -> None:
    cls = load("datasets", name)
    flip = build_transform([{"__class_fullname__": "HorizontalFlip", "p": 1.0}])
    plain = cls(samples[name], "val", _classes(name, "val"))
    flipped = cls(samples[name], "val", _classes(name, "val"), transform=flip)
    (image, target), (flipped_image, flipped_target) = plain[1], flipped[1]
    torch.testing.assert_close(flipped_image, image.flip(-1))
    if _task(name) == "segmentation":
        torch.testing.assert_close(flipped_target, target.flip(-1))
    else:
        torch.testing.assert_close(torch.as_tensor(flipped_target), torch.as_tensor(target))


@pytest.mark.parametrize("name", FORMATS)
def test_corrupt_image_names_the_file(name: str, sample_copy) -> None:
    root = sample_copy(name)
    dataset = load("datasets", name)(root, "test", _classes(name, "test"))
    image_path = dataset.samples[3][0]
    image_path.write_bytes(np.random.default_rng(0).bytes(200))
    with pytest.raises(DatasetError, match=re.escape(image_path.name)):
        dataset[3]


@pytest.mark.parametrize("name", FORMATS)
def test_image_removed_after_listing_names_the_file(name: str, sample_copy) -> None:
    root = sample_copy(name)
    dataset = load("datasets", name)(root, "test", _classes(name, "test"))
    image_path = dataset.samples[0][0]
    image_path.unlink()
    with pytest.raises(DatasetError, match=re.escape(image_path.name)):
        dataset[0]


@pytest.mark.parametrize("name", FORMATS)
def test_missing_split_raises(name: str, samples: dict[str, Path]) -> None:
    with pytest.raises(DatasetError, match="nosuchsplit"):
        load("datasets", name)(samples[name], "nosuchsplit", NUM_CLASSES)


# --- segmentation masks ----------------------------------------------------------------------


@pytest.mark.parametrize("name", MASK_FORMATS)
def test_mask_size_mismatch_names_file_and_sizes(name: str, sample_copy) -> None:
    dataset = load("datasets", name)(sample_copy(name), "test", NUM_CLASSES)
    mask_path = dataset.samples[0][1]
    write_image(mask_path, np.zeros((SIZE, SIZE // 2), np.uint8))
    with pytest.raises(DatasetError, match=rf"{re.escape(mask_path.name)}.*32x64.*64x64"):
        dataset[0]


@pytest.mark.parametrize("name", MASK_FORMATS)
def test_unknown_mask_value_names_file_and_value(name: str, sample_copy) -> None:
    dataset = load("datasets", name)(sample_copy(name), "test", NUM_CLASSES)
    mask_path = dataset.samples[0][1]
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[5, 5] = 9
    write_image(mask_path, mask)
    with pytest.raises(DatasetError, match=rf"{re.escape(mask_path.name)} holds value 9"):
        dataset[0]


@pytest.mark.parametrize("name", MASK_FORMATS)
def test_ignore_value_is_kept(name: str, sample_copy) -> None:
    dataset = load("datasets", name)(sample_copy(name), "test", NUM_CLASSES)
    mask = np.full((SIZE, SIZE), 255, np.uint8)
    mask[:4] = NUM_CLASSES - 1
    write_image(dataset.samples[0][1], mask)
    _, target = dataset[0]
    assert set(target.unique().tolist()) == {NUM_CLASSES - 1, 255}


def test_mask_folder_image_without_mask(sample_copy) -> None:
    root = sample_copy("mask_folder")
    (root / "val" / "masks" / "0003.png").unlink()
    with pytest.raises(DatasetError, match=r"0003\.png"):
        MaskFolderDataset(root, "val", NUM_CLASSES)


def test_read_mask_rejects_rgb(tmp_path: Path) -> None:
    write_image(tmp_path / "rgb.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"rgb\.png has mode RGB"):
        read_mask(tmp_path / "rgb.png")


# --- csv label checks --------------------------------------------------------------------------


def _write_csv(root: Path, split: str, text: str) -> Path:
    write_image(root / "a.png", np.zeros((8, 8, 3), np.uint8))
    (root / f"{split}.csv").write_text(text)
    return root / f"{split}.csv"


@pytest.mark.parametrize(
    ("cls", "text", "message"),
    [
        (
            CsvDataset,
            "path,label\na.png,1\na.png,7\n",
            r"train\.csv:3: label 7 is outside \[0, 4\)",
        ),
        (CsvDataset, "path,label\na.png,cat\n", r"train\.csv:2: label 'cat' is not an integer"),
        (CsvDataset, "path,lbl\na.png,1\n", r"train\.csv: missing column\(s\) label"),
        (CsvDataset, "path,label\na.png,1,3\n", r"train\.csv:2: expected 2 fields"),
        (CsvDataset, "path,label\nb.png,1\n", r"train\.csv:2: file .*b\.png does not exist"),
        (CsvDataset, "path,label\n", r"train\.csv: no images found"),
        (MultilabelCsvDataset, "path,labels\na.png,0 4\n", r"train\.csv:2: label 4 is outside"),
        (MultilabelCsvDataset, "path,labels\na.png,0;1\n", r"train\.csv:2: label '0;1'"),
        (OneHotCsvDataset, "path,a,b,c,d\na.png,0,1,2,0\n", r"train\.csv:2: column 'c' holds '2'"),
        (OneHotCsvDataset, "path,a,b,c\na.png,0,1,0\n", r"train\.csv: 3 class columns but num"),
        (MaskCsvDataset, "image,mask\na.png,m.png\n", r"train\.csv:2: file .*m\.png does not"),
    ],
)
def test_csv_errors_name_file_line_and_value(cls, text: str, message: str, tmp_path: Path) -> None:
    _write_csv(tmp_path, "train", text)
    with pytest.raises(DatasetError, match=message):
        cls(tmp_path, "train", NUM_CLASSES)


def test_multilabel_csv_parses_labels(tmp_path: Path) -> None:
    _write_csv(tmp_path, "train", "path,labels\na.png,3 1\na.png,\n")
    dataset = MultilabelCsvDataset(tmp_path, "train", NUM_CLASSES)
    assert dataset[0][1].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert dataset[1][1].tolist() == [0.0] * NUM_CLASSES


def test_onehot_csv_classes_follow_columns(tmp_path: Path) -> None:
    _write_csv(tmp_path, "train", "path,cat,dog,owl,eel\na.png,1,0,0,1\n")
    dataset = OneHotCsvDataset(tmp_path, "train", NUM_CLASSES)
    assert dataset.classes == ["cat", "dog", "owl", "eel"]
    assert dataset[0][1].tolist() == [1.0, 0.0, 0.0, 1.0]


# --- image folders -----------------------------------------------------------------------------


def test_image_folder_classes_are_sorted_folder_names(samples: dict[str, Path]) -> None:
    dataset = ImageFolderDataset(samples["image_folder"], "train", NUM_CLASSES)
    assert dataset.classes == sorted(dataset.classes)
    assert dataset.classes == [f"{index}_{SHAPES[index]}" for index in range(NUM_CLASSES)]
    for path, label in dataset.samples:
        assert path.parent.name == dataset.classes[label]


def test_image_folder_class_count_must_match(sample_copy) -> None:
    root = sample_copy("image_folder")
    (root / "train" / "9_extra").mkdir()
    with pytest.raises(DatasetError, match=r"train has 5 class folders but num_classes=4"):
        ImageFolderDataset(root, "train", NUM_CLASSES)


def test_image_folder_empty_split(tmp_path: Path) -> None:
    for index in range(NUM_CLASSES):
        (tmp_path / "train" / str(index)).mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images found"):
        ImageFolderDataset(tmp_path, "train", NUM_CLASSES)


def test_unlabeled_folder_lists_images_recursively(tmp_path: Path) -> None:
    for relative in ["b.png", "a/c.jpg", "a/d.PNG", ".hidden.png"]:
        write_image(tmp_path / relative, np.zeros((6, 5, 3), np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    dataset = UnlabeledFolderDataset(tmp_path)
    assert [path.relative_to(tmp_path).as_posix() for path in dataset.paths] == [
        "a/c.jpg",
        "a/d.PNG",
        "b.png",
    ]
    image, path = dataset[2]
    assert image.shape == (3, 6, 5) and image.dtype == torch.float32
    assert path == str(tmp_path / "b.png")


def test_unlabeled_folder_empty_raises(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no images found"):
        UnlabeledFolderDataset(tmp_path)


# --- reading files and the synthetic scenes ---------------------------------------------------


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_read_image_converts_to_rgb(mode: str, tmp_path: Path) -> None:
    from PIL import Image

    Image.new(mode, (7, 3)).save(tmp_path / "x.png")
    image = read_image(tmp_path / "x.png")
    assert image.shape == (3, 7, 3) and image.dtype == np.uint8


def test_to_tensor_scales_uint8_and_keeps_float() -> None:
    array = np.full((2, 3, 3), 255, np.uint8)
    assert torch.equal(to_tensor(array), torch.ones(3, 2, 3))
    as_float = torch.full((3, 2, 2), -1.5)
    assert torch.equal(to_tensor(as_float), as_float)


def test_draw_scene_masks_each_shape() -> None:
    rng = np.random.default_rng(0)
    image, mask = draw_scene(rng, SIZE, [2, 0])
    assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
    assert mask.shape == (SIZE, SIZE) and mask.dtype == np.uint8
    assert set(np.unique(mask).tolist()) == {0, 1, 3}


def test_draw_scene_is_deterministic_per_seed() -> None:
    first = draw_scene(np.random.default_rng(5), SIZE, [1])
    again = draw_scene(np.random.default_rng(5), SIZE, [1])
    other = draw_scene(np.random.default_rng(6), SIZE, [1])
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])


def test_sample_generators_cover_every_shape() -> None:
    classes = {label for split, _, label, _ in classification_samples(len(SHAPES), 32, 0)}
    assert classes == set(range(len(SHAPES)))
    labels = {i for split, _, found, _ in multilabel_samples(len(SHAPES), 32, 0) for i in found}
    assert labels == set(range(len(SHAPES)))
    values = set()
    for split, _, _, mask in segmentation_samples(len(SHAPES) + 1, 32, 0):
        if split == "val":
            values |= set(np.unique(mask).tolist())
    assert values == set(range(len(SHAPES) + 1))
    with pytest.raises(ValueError, match="num_classes=7 needs 7 shapes"):
        next(classification_samples(len(SHAPES) + 1, 32, 0))
    with pytest.raises(ValueError, match="num_classes=8 needs 7 shapes"):
        next(segmentation_samples(len(SHAPES) + 2, 32, 0))
