"""Two-view augmentation: SimCLR defaults as YAML data, independent views, clear errors."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest
import torch
import yaml

from component_library.transforms.albumentations_yaml import build_transform
from component_library.transforms.two_views import TwoViews, build_two_views, simclr_steps

from .catalogue import CATALOGUE


def _image(size: int = 64) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_default_steps_are_simclr_and_round_trip_through_yaml() -> None:
    steps = simclr_steps()
    text = yaml.safe_dump(steps)  # safe_dump refuses tuples and objects: plain data only
    assert yaml.safe_load(text) == steps
    by_name = {step["__class_fullname__"]: step for step in steps}
    assert list(by_name) == [
        "RandomResizedCrop",
        "HorizontalFlip",
        "ColorJitter",
        "ToGray",
        "GaussianBlur",
        "Normalize",
        "ToTensorV2",
    ]
    assert by_name["RandomResizedCrop"]["scale"] == [0.08, 1.0]
    jitter = by_name["ColorJitter"]
    assert [jitter[k] for k in ("brightness", "contrast", "saturation", "hue", "p")] == [
        0.4,
        0.4,
        0.4,
        0.1,
        0.8,
    ]
    assert by_name["ToGray"]["p"] == 0.2
    assert by_name["GaussianBlur"]["sigma_limit"] == [0.1, 2.0]
    # The built pipeline carries the values, not albumentations' own defaults.
    transform = build_transform(yaml.safe_load(text))
    crop, _, colour, gray, blur = transform.transforms[:5]
    assert (crop.size, crop.scale) == ((64, 64), (0.08, 1.0))
    assert (colour.brightness, colour.hue, colour.p) == ((0.6, 1.4), (-0.1, 0.1), 0.8)
    assert (gray.p, blur.p, blur.sigma_limit) == (0.2, 0.5, (0.1, 2.0))


@pytest.mark.parametrize(("size", "kernel"), [(32, 3), (64, 7), (224, 23)])
def test_blur_kernel_is_odd_and_about_a_tenth_of_the_image(size: int, kernel: int) -> None:
    (blur,) = [s for s in simclr_steps(size) if s["__class_fullname__"] == "GaussianBlur"]
    assert blur["blur_limit"] == [3, kernel]
    build_transform(simclr_steps(size))  # albumentations accepts it


def test_two_views_differ_and_have_the_crop_shape() -> None:
    two_views = build_two_views(simclr_steps(32))
    views = two_views(image=_image(80))["image"]
    assert isinstance(views, torch.Tensor)
    assert views.shape == (2, 3, 32, 32) and views.dtype == torch.float32
    assert not torch.equal(views[0], views[1])


def test_views_are_the_pipeline_applied_independently() -> None:
    """A deterministic pipeline gives two equal views; a random one, fresh draws each time."""
    steps = [{"name": "Resize", "height": 16, "width": 16}, {"name": "ToTensorV2"}]
    views = build_two_views(steps)(image=_image())["image"]
    torch.testing.assert_close(views[0], views[1], rtol=0, atol=0)
    flip = build_two_views([{"name": "HorizontalFlip", "p": 0.5}, {"name": "ToTensorV2"}])
    pairs = [flip(image=_image(8))["image"] for _ in range(40)]
    differing = sum(not torch.equal(views[0], views[1]) for views in pairs)
    assert 5 < differing < 35  # each view flips with p = 0.5 on its own: half the pairs differ


def test_views_must_be_tensors_of_one_shape() -> None:
    with pytest.raises(TypeError, match="must end with ToTensorV2"):
        TwoViews(A.Compose([A.HorizontalFlip()]))(image=_image())
    uneven = build_two_views(
        [
            {"name": "RandomCrop", "height": 16, "width": 16, "pad_if_needed": False},
            {
                "name": "OneOf",
                "transforms": [
                    {"name": "Resize", "height": 8, "width": 8},
                    {"name": "Resize", "height": 12, "width": 12},
                ],
            },
            {"name": "ToTensorV2"},
        ]
    )
    with pytest.raises(ValueError, match="differ in shape"):
        for _ in range(30):  # the two draws pick different sizes within a few tries
            uneven(image=_image())


def test_the_catalogue_gives_self_supervised_projects_these_steps() -> None:
    """The pipeline okgen writes into a new project's config is ``simclr_steps`` at its size."""
    task = CATALOGUE["tasks"]["self_supervised"]
    expected = simclr_steps(task["defaults"]["image_size"])
    del expected[0]["size"]  # the project's crop takes data.image_size
    assert task["train_augmentations"] == expected
