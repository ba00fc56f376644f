"""Two independently augmented views of each image, for contrastive self-supervised learning.

``simclr_steps`` gives SimCLR's augmentations (Chen et al., 2020, appendix A) as an
editable YAML step list in the format of ``albumentations_yaml``; ``build_two_views``
turns any such list into a transform that applies the pipeline twice, with fresh
random parameters each time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import albumentations as A
import torch
from torch import Tensor

from .albumentations_yaml import build_transform


def simclr_steps(image_size: int = 64) -> list[dict[str, Any]]:
    """SimCLR's augmentations for ``image_size`` crops, as ``build_transform`` steps.

    Random resized crop (scale 0.08-1) and horizontal flip; colour jitter
    (0.4, 0.4, 0.4, 0.1) with p=0.8; grayscale with p=0.2; Gaussian blur with
    sigma 0.1-2 and a kernel of about 10% of the image, p=0.5; ImageNet
    normalisation; a ``(3, image_size, image_size)`` float tensor. Plain lists and
    numbers only, so the result dumps to YAML as it is.
    """
    kernel = max(3, int(0.1 * image_size) // 2 * 2 + 1)  # odd, as blur kernels must be
    return [
        {
            "__class_fullname__": "RandomResizedCrop",
            "size": [image_size, image_size],
            "scale": [0.08, 1.0],
        },
        {"__class_fullname__": "HorizontalFlip", "p": 0.5},
        {
            "__class_fullname__": "ColorJitter",
            "brightness": 0.4,
            "contrast": 0.4,
            "saturation": 0.4,
            "hue": 0.1,
            "p": 0.8,
        },
        {"__class_fullname__": "ToGray", "p": 0.2},
        {
            "__class_fullname__": "GaussianBlur",
            "blur_limit": [3, kernel],
            "sigma_limit": [0.1, 2.0],
            "p": 0.5,
        },
        {"__class_fullname__": "Normalize"},
        {"__class_fullname__": "ToTensorV2"},
    ]


class TwoViews:
    """Applies ``transform`` twice to one image; a drop-in for an ``A.Compose`` in datasets.

    ``two_views(image=(H, W, 3) uint8)`` -> ``{"image": (2, 3, H', W') tensor}``, the
    two views stacked, so a batch collates to ``(B, 2, 3, H', W')``. The pipeline
    must end in ``ToTensorV2`` and give every view the same size (e.g. a crop to a
    fixed size), so that the views stack.
    """

    def __init__(self, transform: A.Compose) -> None:
        self.transform = transform

    def __call__(self, *, image: Any) -> dict[str, Tensor]:
        views = [self.transform(image=image)["image"] for _ in range(2)]
        if not all(isinstance(view, Tensor) for view in views):
            raise TypeError("TwoViews: the view pipeline must end with ToTensorV2")
        if views[0].shape != views[1].shape:
            raise ValueError(
                f"TwoViews: the two views differ in shape ({tuple(views[0].shape)} vs "
                f"{tuple(views[1].shape)}); crop or resize to a fixed size"
            )
        return {"image": torch.stack(views)}


def build_two_views(steps: Sequence[Mapping[str, Any]]) -> TwoViews:
    """``TwoViews`` of the pipeline that ``build_transform(steps)`` builds."""
    return TwoViews(build_transform(steps))
