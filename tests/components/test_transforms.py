"""Albumentations pipelines built from YAML step lists."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest
import torch
import yaml

from component_library.transforms.albumentations_yaml import TransformConfigError, build_transform

PIPELINE = """
- {__class_fullname__: HorizontalFlip, p: 0.5}
- __class_fullname__: OneOf
  transforms:
    - {__class_fullname__: GaussianBlur, p: 1.0}
    - {__class_fullname__: GaussNoise, p: 1.0}
- {__class_fullname__: Resize, height: 32, width: 48}
- {__class_fullname__: Normalize, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}
- {__class_fullname__: ToTensorV2}
"""


def _image(height: int = 40, width: int = 40) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_yaml_pipeline_builds_and_applies() -> None:
    transform = build_transform(yaml.safe_load(PIPELINE))
    assert isinstance(transform, A.Compose)
    assert [type(t).__name__ for t in transform.transforms] == [
        "HorizontalFlip",
        "OneOf",
        "Resize",
        "Normalize",
        "ToTensorV2",
    ]
    image = transform(image=_image())["image"]
    assert isinstance(image, torch.Tensor)
    assert image.shape == (3, 32, 48) and image.dtype == torch.float32


def test_normalize_matches_formula() -> None:
    steps = yaml.safe_load(PIPELINE)[-2:]
    image = _image()
    out = build_transform(steps)(image=image)["image"]
    expected = (torch.from_numpy(image).permute(2, 0, 1).float() / 255 - 0.5) / 0.25
    torch.testing.assert_close(out, expected)


def test_missing_p_uses_the_transform_default() -> None:
    """A.from_dict alone would apply Normalize to only half of the images (p=0.5)."""
    transform = build_transform(
        [
            {"__class_fullname__": "Normalize"},
            {"__class_fullname__": "HorizontalFlip"},
            {"__class_fullname__": "OneOf", "transforms": [{"__class_fullname__": "Blur"}]},
        ]
    )
    normalize, flip, one_of = transform.transforms
    assert (normalize.p, flip.p, one_of.p, one_of.transforms[0].p) == (1.0, 0.5, 0.5, 0.5)


def test_name_is_an_alias_of_class_fullname() -> None:
    long = build_transform(yaml.safe_load(PIPELINE))
    short = build_transform(yaml.safe_load(PIPELINE.replace("__class_fullname__", "name")))
    assert A.to_dict(short) == A.to_dict(long)


def test_flip_moves_image_and_mask_together() -> None:
    transform = build_transform([{"name": "HorizontalFlip", "p": 1.0}])
    image, mask = _image(), np.arange(40 * 40, dtype=np.uint8).reshape(40, 40)
    out = transform(image=image, mask=mask)
    np.testing.assert_array_equal(out["image"], image[:, ::-1])
    np.testing.assert_array_equal(out["mask"], mask[:, ::-1])


def test_to_dict_from_dict_round_trip() -> None:
    transform = build_transform(yaml.safe_load(PIPELINE))
    serialized = A.to_dict(transform)
    assert A.to_dict(A.from_dict(serialized)) == serialized
    steps = serialized["transform"]["transforms"]
    assert A.to_dict(build_transform(steps)) == serialized


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            "[{name: HorizontalFlp}]",
            r"step 0: unknown .* 'HorizontalFlp'; did you mean HorizontalFlip",
        ),
        (
            "[{name: Blur}, {name: OneOf, transforms: [{name: GausNoise}]}]",
            r"step 1\.transforms\[0\]: unknown .* 'GausNoise'; did you mean GaussNoise",
        ),
        ("[{name: Resize, height: 8, widht: 8}]", r"step 0 \(Resize\): unknown argument 'widht'"),
        ("[{name: Resize, height: 8}]", r"step 0 \(Resize\): width: Field required"),
        ("[{name: Resize, height: big, width: 8}]", r"step 0 \(Resize\): height: Input should be"),
        ("[{p: 0.5}]", r"step 0: missing __class_fullname__"),
        ("[HorizontalFlip]", r"step 0: expected a mapping"),
        ("[{name: Blur, __class_fullname__: Blur}]", r"step 0: give either name or"),
    ],
)
def test_config_errors_are_one_line_and_name_the_step(steps: str, message: str) -> None:
    with pytest.raises(TransformConfigError, match=message) as caught:
        build_transform(yaml.safe_load(steps))
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)
