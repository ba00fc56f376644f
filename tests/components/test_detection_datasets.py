"""COCO and YOLO detection datasets: sample data, targets, box-aware transforms, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from component_library.datasets._detection import BOX_TOLERANCE, DetectionDataset
from component_library.datasets._io import DatasetError
from component_library.datasets._shapes import SHAPES, detection_samples
from component_library.datasets.coco_detection import CocoDetectionDataset, detection_collate
from component_library.datasets.coco_detection import write_sample as write_coco
from component_library.datasets.yolo_detection import YoloDetectionDataset
from component_library.datasets.yolo_detection import write_sample as write_yolo
from component_library.transforms.albumentations_yaml import build_transform

SIZE = 64
FLIP = [{"name": "HorizontalFlip", "p": 1.0}]


@pytest.fixture(scope="module")
def samples() -> dict[str, list]:
    """The scenes both writers draw, by split."""
    by_split: dict[str, list] = {}
    for split, name, image, boxes, labels in detection_samples(4, SIZE, 0):
        by_split.setdefault(split, []).append((name, image, boxes, labels))
    return by_split


@pytest.fixture(scope="module")
def coco_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("coco")
    write_coco(root, image_size=SIZE)
    return root


@pytest.fixture(scope="module")
def yolo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("yolo")
    write_yolo(root, image_size=SIZE)
    return root


def test_sample_scenes_hold_several_boxes_of_varied_sizes_with_overlaps(samples) -> None:
    train = samples["train"]
    counts = [len(boxes) for _, _, boxes, _ in train]
    assert min(counts) == 0 and max(counts) >= 4 and np.mean(counts) > 2
    widths = np.concatenate([boxes[:, 2] - boxes[:, 0] for _, _, boxes, _ in train])
    assert widths.max() > 3 * np.median(widths[widths > 0]) / 2 > widths.min()
    overlapping = 0
    for _, _, boxes, _ in train:
        for i in range(len(boxes)):
            for j in range(i):
                x = min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0])
                y = min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1])
                overlapping += x > 0 and y > 0
    assert overlapping > 20
    labels = np.concatenate([labels for _, _, _, labels in train])
    assert set(labels.tolist()) == {0, 1, 2, 3}


@pytest.mark.parametrize("dataset", ["coco", "yolo"])
def test_both_formats_read_back_the_sample_boxes(dataset, coco_root, yolo_root, samples) -> None:
    if dataset == "coco":
        data = CocoDetectionDataset(coco_root, "val", num_classes=4)
        assert data.category_ids == [1, 3, 5, 7]
    else:
        data = YoloDetectionDataset(yolo_root, "val", num_classes=4)
    assert data.classes == list(SHAPES[:4])
    assert len(data) == len(samples["val"])
    for index in (0, 1, 7):
        image, target = data[index]
        _, expected_image, boxes, labels = samples["val"][index]
        assert image.shape == (3, SIZE, SIZE) and image.dtype == torch.float32
        torch.testing.assert_close(image, torch.from_numpy(expected_image).permute(2, 0, 1) / 255)
        # YOLO stores 6 decimals of a fraction of the size.
        torch.testing.assert_close(
            target["boxes"],
            torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            atol=1e-4,
            rtol=0,
        )
        assert target["labels"].tolist() == labels.tolist()
        assert target["iscrowd"].tolist() == [0] * len(labels)
        assert target["orig_size"].tolist() == [SIZE, SIZE]
    # Scene 0 of every split is empty: an image without boxes is a valid item.
    assert data[0][1]["boxes"].shape == (0, 4) and data[0][1]["labels"].shape == (0,)


@pytest.mark.parametrize("box_format", ["pascal_voc", "coco", "yolo", "albumentations"])
def test_boxes_follow_the_transform_in_any_box_format(coco_root, box_format: str) -> None:
    plain = CocoDetectionDataset(coco_root, "val", 4)
    flip = build_transform(FLIP, {"format": box_format, "label_fields": ["labels"]})
    flipped = CocoDetectionDataset(coco_root, "val", 4, transform=flip)
    for index in (1, 2, 3):
        image, target = plain[index]
        flipped_image, flipped_target = flipped[index]
        torch.testing.assert_close(flipped_image, image.flip(-1))
        x0, y0, x1, y1 = target["boxes"].unbind(1)
        expected = torch.stack([SIZE - x1, y0, SIZE - x0, y1], dim=1)
        torch.testing.assert_close(flipped_target["boxes"], expected, atol=1e-4, rtol=0)
        assert flipped_target["labels"].tolist() == target["labels"].tolist()


def test_min_visibility_drops_boxes_and_their_labels_and_flags(tmp_path: Path) -> None:
    root = coco_file(
        tmp_path,
        [
            annotation(1, [2, 2, 10, 10], category=20),  # inside the crop
            annotation(2, [22, 2, 10, 10], category=10),  # 2 of 10 columns kept
            annotation(3, [12, 20, 10, 10], category=10, iscrowd=1),  # inside
        ],
    )
    crop = [{"name": "Crop", "x_min": 0, "y_min": 0, "x_max": 24, "y_max": 32}]
    transform = build_transform(crop, {"format": "coco", "min_visibility": 0.5})
    image, target = CocoDetectionDataset(root, "train", 2, transform=transform)[0]
    assert image.shape == (3, 32, 24)
    assert target["boxes"].tolist() == [[2, 2, 12, 12], [12, 20, 22, 30]]
    assert target["labels"].tolist() == [1, 0]  # category 10 -> 0, 20 -> 1
    assert target["iscrowd"].tolist() == [0, 1]


def test_collate_stacks_images_and_keeps_one_target_per_image(coco_root) -> None:
    data = CocoDetectionDataset(coco_root, "val", 4)
    images, targets = detection_collate([data[i] for i in range(4)])
    assert images.shape == (4, 3, SIZE, SIZE)
    assert [len(t["boxes"]) for t in targets] == [len(data[i][1]["boxes"]) for i in range(4)]
    assert len({len(t["boxes"]) for t in targets}) > 1


def test_a_transform_without_bbox_params_is_refused(coco_root) -> None:
    with pytest.raises(ValueError, match="has no bbox_params"):
        CocoDetectionDataset(coco_root, "val", 4, transform=build_transform(FLIP))


# --- COCO files written by hand --------------------------------------------------------


def annotation(id_: int, bbox: list[float], category: int = 10, image: int = 5, iscrowd: int = 0):
    return {"id": id_, "image_id": image, "category_id": category, "bbox": bbox, "iscrowd": iscrowd}


def coco_file(root: Path, annotations: list[dict], images: list[dict] | None = None) -> Path:
    """A 32x32 image with id 5 and categories 10, 20 unless told otherwise."""
    images = images or [{"id": 5, "file_name": "a.png", "width": 32, "height": 32}]
    (root / "train").mkdir(exist_ok=True)
    for image in images:
        Image.new("RGB", (image["width"], image["height"])).save(
            root / "train" / image["file_name"]
        )
    (root / "annotations").mkdir(exist_ok=True)
    categories = [{"id": 20, "name": "b"}, {"id": 10, "name": "a"}]
    data = {"images": images, "annotations": annotations, "categories": categories}
    (root / "annotations" / "instances_train.json").write_text(json.dumps(data))
    return root


def test_coco_categories_are_sorted_by_id_and_boxes_clipped_within_tolerance(tmp_path) -> None:
    root = coco_file(tmp_path, [annotation(1, [-0.5, 0, 32 + BOX_TOLERANCE, 8], category=20)])
    data = CocoDetectionDataset(root, "train", 2)
    assert data.category_ids == [10, 20] and data.classes == ["a", "b"]
    _, target = data[0]
    assert target["boxes"].tolist() == [[0, 0, 32, 8]]
    assert target["labels"].tolist() == [1] and target["image_id"].item() == 5


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        (
            [annotation(7, [30, 2, 10, 10])],
            r"id 7: box \[30, 2, 40, 12\] .* outside the 32x32 image",
        ),
        ([annotation(7, [-2, 2, 10, 10])], r"annotation id 7: box .* lies outside"),
        ([annotation(8, [3, 2, 0, 10])], r"annotation id 8: box \[3, 2, 3, 12\] .* zero area"),
        (
            [annotation(9, [3, 2, 5, 5], category=30)],
            r"id 9: unknown category id 30 \(.*: 10, 20\)",
        ),
        ([annotation(4, [3, 2, 5, 5], image=6)], r"annotation id 4: image id 6 is not in images"),
        ([annotation(4, [3, 2, 5])], r"annotation id 4: bbox must be \[x, y, width, height\]"),
        ([{"id": 3, "image_id": 5, "bbox": [3, 2, 5, 5]}], r"id 3: missing key\(s\) category_id"),
    ],
)
def test_bad_coco_annotations_name_the_file_and_annotation(tmp_path, annotations, message) -> None:
    root = coco_file(tmp_path, annotations)
    with pytest.raises(DatasetError, match=message) as caught:
        CocoDetectionDataset(root, "train", 2)
    assert str(caught.value).startswith(str(root / "annotations" / "instances_train.json"))
    assert "\n" not in str(caught.value)


def test_bad_coco_files_name_the_file(tmp_path) -> None:
    root = coco_file(tmp_path, [])
    with pytest.raises(DatasetError, match="2 categories, but num_classes is 3"):
        CocoDetectionDataset(root, "train", 3)
    (root / "train" / "a.png").unlink()
    with pytest.raises(DatasetError, match=r"image id 5: file .*a.png does not exist"):
        CocoDetectionDataset(root, "train", 2)
    (root / "annotations" / "instances_train.json").write_text('{"images": [\n  oops')
    with pytest.raises(DatasetError, match=r"instances_train.json:2: not valid JSON"):
        CocoDetectionDataset(root, "train", 2)
    with pytest.raises(DatasetError, match=r"cannot read .*instances_val.json"):
        CocoDetectionDataset(root, "val", 2)


def test_an_image_of_another_size_than_its_annotation_is_an_error(tmp_path) -> None:
    images = [{"id": 5, "file_name": "a.png", "width": 32, "height": 32}]
    root = coco_file(tmp_path, [], images)
    data = json.loads((root / "annotations" / "instances_train.json").read_text())
    data["images"][0]["width"] = 40
    (root / "annotations" / "instances_train.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"a.png is 32x32 \(WxH\), its annotations say 40x32"):
        CocoDetectionDataset(root, "train", 2)[0]


# --- YOLO files written by hand --------------------------------------------------------


def yolo_root_with(root: Path, label_text: str | None, names=("a", "b")) -> Path:
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    Image.new("RGB", (40, 20)).save(root / "images" / "train" / "x.png")
    if label_text is not None:
        (root / "labels" / "train" / "x.txt").write_text(label_text)
    (root / "data.yaml").write_text(yaml.safe_dump({"names": names}))
    return root


def test_yolo_boxes_are_denormalised_by_width_and_height(tmp_path) -> None:
    root = yolo_root_with(tmp_path, "1 0.5 0.5 0.5 0.5\n\n0 0.1 0.2 0.2 0.4\n", {0: "a", 1: "b"})
    data = YoloDetectionDataset(root, "train", 2)
    assert data.classes == ["a", "b"]
    _, target = data[0]
    torch.testing.assert_close(target["boxes"], torch.tensor([[10.0, 5, 30, 15], [0, 0, 8, 8]]))
    assert target["labels"].tolist() == [1, 0]


def test_yolo_missing_label_file_is_an_image_without_boxes(tmp_path) -> None:
    _, target = YoloDetectionDataset(yolo_root_with(tmp_path, None), "train", 2)[0]
    assert target["boxes"].shape == (0, 4)


def test_yolo_split_folder_from_data_yaml(tmp_path) -> None:
    root = yolo_root_with(tmp_path, "0 0.5 0.5 0.5 0.5")
    (root / "data.yaml").write_text(yaml.safe_dump({"names": ["a", "b"], "val": "images/train"}))
    assert len(YoloDetectionDataset(root, "val", 2)[0][1]["boxes"]) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "0 0.5 0.5 0.5 0.5\n0 0.9 0.5 0.5 0.5\n",
            r"x.txt:2: box \[26, 5, 46, 15\] .* the 40x20 image",
        ),
        ("0 0.5 0.5 0 0.5\n", r"x.txt:1: box .* has zero area"),
        ("2 0.5 0.5 0.5 0.5\n", r"x.txt:1: label 2 is outside \[0, 2\)"),
        ("0 0.5 0.5 0.5\n", r"x.txt:1: expected 'class cx cy w h', got 4 fields"),
        ("0 0.5 0.5 0.5 wide\n", r"x.txt:1: cx cy w h must be numbers"),
    ],
)
def test_bad_yolo_labels_name_the_file_and_line(tmp_path, text: str, message: str) -> None:
    root = yolo_root_with(tmp_path, text)
    with pytest.raises(DatasetError, match=message) as caught:
        YoloDetectionDataset(root, "train", 2)
    assert "\n" not in str(caught.value)


def test_bad_yolo_config_names_the_file(tmp_path) -> None:
    root = yolo_root_with(tmp_path, "")
    with pytest.raises(DatasetError, match=r"data.yaml: 2 class names, but num_classes is 3"):
        YoloDetectionDataset(root, "train", 3)
    (root / "data.yaml").write_text("nc: 2\n")
    with pytest.raises(DatasetError, match=r"data.yaml: expected a mapping with the class names"):
        YoloDetectionDataset(root, "train", 2)
    (root / "data.yaml").write_text(yaml.safe_dump({"names": {0: "a", 2: "b"}}))
    with pytest.raises(DatasetError, match=r"names keys must be the class indices 0 .. 1"):
        YoloDetectionDataset(root, "train", 2)


def test_an_empty_split_is_an_error(tmp_path) -> None:
    with pytest.raises(DatasetError, match="no images found"):
        DetectionDataset([], ["a"], None, tmp_path)
