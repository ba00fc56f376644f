"""build_transform's bbox_params: box-aware pipelines for detection."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from component_library.transforms.albumentations_yaml import TransformConfigError, build_transform

BBOX_PARAMS = {"format": "pascal_voc", "label_fields": ["labels"], "min_visibility": 0.5}


def test_boxes_follow_a_flip_and_a_resize() -> None:
    steps = yaml.safe_load(
        "[{name: HorizontalFlip, p: 1.0}, {name: Resize, height: 20, width: 50}]"
    )
    transform = build_transform(steps, BBOX_PARAMS)
    image = np.zeros((40, 100, 3), np.uint8)
    out = transform(image=image, bboxes=np.array([[10.0, 4.0, 30.0, 24.0]]), labels=[3])
    # Flipped in a 100-wide image: x in [70, 90]; then halved.
    np.testing.assert_allclose(out["bboxes"], [[35.0, 2.0, 45.0, 12.0]])
    assert list(out["labels"]) == [3]


def test_min_visibility_drops_boxes_cropped_away() -> None:
    crop = yaml.safe_load("[{name: Crop, x_min: 0, y_min: 0, x_max: 50, y_max: 40}]")
    transform = build_transform(crop, BBOX_PARAMS)
    boxes = np.array([[10.0, 0, 30, 20], [40.0, 0, 70, 20], [45.0, 0, 85, 20]])
    out = transform(image=np.zeros((40, 100, 3), np.uint8), bboxes=boxes, labels=[0, 1, 2])
    # Visible fractions 1, 1/3 and 1/8: only the first box keeps at least half.
    assert list(out["labels"]) == [0]


def test_without_bbox_params_the_pipeline_has_no_box_processor() -> None:
    assert build_transform([{"name": "HorizontalFlip"}]).processors == {}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"format": "xyxy"}, r"format must be one of pascal_voc, coco, yolo, albumentations"),
        ({"format": "coco", "min_visibility": 2}, r"min_visibility must be in \[0, 1\], got 2"),
        (
            {"format": "coco", "min_visiblity": 0.2},
            r".*unexpected keyword argument 'min_visiblity'",
        ),
    ],
)
def test_bad_bbox_params_are_one_line_errors(params: dict, message: str) -> None:
    with pytest.raises(TransformConfigError, match=f"bbox_params: {message}") as caught:
        build_transform([{"name": "HorizontalFlip"}], params)
    assert "\n" not in str(caught.value)
