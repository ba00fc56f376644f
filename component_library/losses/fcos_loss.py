"""FCOS target assignment and loss: sigmoid focal, GIoU and centerness BCE.

Assignment (Tian et al. 2019, with center sampling): a point on level ``l`` is a
positive of a box when it lies inside the box, within ``radius * stride_l`` of
its centre (both axes) when ``center_sampling_radius`` is set, and the largest
of its four distances to the box sides falls in the level's range
``(lower_l, upper_l]``. A point that qualifies for several boxes takes the
one of smallest area. Every other point is background.

The three terms follow torchvision's FCOS: each is summed over the batch and
divided by the number of positives in the batch (at least 1).

- ``classification``: sigmoid focal loss over all points and classes, against
  the one-hot class of the assigned box (all zeros for background).
- ``box``: GIoU loss between the decoded box and the assigned box, positives only.
- ``centerness``: BCE between the centerness logit and
  ``sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b))`` of the assigned box,
  positives only.

Crowd boxes (``iscrowd`` 1) are dropped before assignment: they neither make
positives nor count in the loss.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import generalized_box_iou_loss, sigmoid_focal_loss

from ..heads._fcos_geometry import decode_boxes, encode_boxes, level_points

# Level l takes boxes whose largest point-to-side distance is at most this many strides.
RANGE_PER_STRIDE = 8


class FCOSLoss(nn.Module):
    """FCOS loss over per-level head outputs and per-image box targets.

    Args:
        strides: stride of each pyramid level, finest first (the neck's ``strides``).
        center_sampling_radius: positives must lie within this many strides of
            the box centre; ``None`` makes every point inside the box a candidate.
        size_boundaries: the ``L - 1`` distances that split the levels; level
            ``l`` takes largest distances in ``(size_boundaries[l - 1], size_boundaries[l]]``,
            the first level from 0 and the last one without limit. ``None`` uses
            ``8 * stride_l``: 64, 128, 256, 512 for strides 8 to 128, as in FCOS.
        focal_alpha: weight of positives in the focal loss (``1 - alpha`` for negatives).
        focal_gamma: focusing exponent of the focal loss.

    ``forward(outputs, targets)``:
        outputs: ``(cls_logits, box_regression, centerness)``, each a list with
            one map per level: ``(B, K, H_l, W_l)``, ``(B, 4, H_l, W_l)`` ltrb
            distances in pixels, ``(B, 1, H_l, W_l)`` (an ``FCOSOutput``).
        targets: one dict per image with ``boxes (N, 4)`` xyxy pixels,
            ``labels (N,)`` long in ``[0, K)`` and optionally ``iscrowd (N,)``.

    Returns the scalar sum of the three terms; ``self.parts`` then holds each
    term (name -> scalar tensor), detached, for logging: keeping no graph, the
    module stays copyable between steps (``copy.deepcopy``, as ONNX export does).
    """

    def __init__(
        self,
        strides: Sequence[int],
        center_sampling_radius: float | None = 1.5,
        size_boundaries: Sequence[float] | None = None,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
    ) -> None:
        super().__init__()
        self.strides = list(strides)
        if size_boundaries is None:
            size_boundaries = [RANGE_PER_STRIDE * stride for stride in self.strides[:-1]]
        if len(size_boundaries) != len(self.strides) - 1:
            raise ValueError(
                f"fcos_loss.py: size_boundaries needs {len(self.strides) - 1} values for "
                f"{len(self.strides)} levels, got {list(size_boundaries)}"
            )
        bounds = [0.0, *map(float, size_boundaries), float("inf")]
        self.ranges = list(itertools.pairwise(bounds))
        self.center_sampling_radius = center_sampling_radius
        self.focal_alpha = focal_alpha
        self.focal_gamma = focal_gamma
        self.parts: dict[str, Tensor] = {}

    def points(
        self, sizes: Sequence[tuple[int, int]], device: torch.device | None = None
    ) -> Tensor:
        """Every point of levels of ``sizes[l] = (H_l, W_l)`` -> (P, 5).

        Columns: x, y, stride, lower and upper bound of the level's distance range.
        """
        rows = []
        for (height, width), stride, (lower, upper) in zip(
            sizes, self.strides, self.ranges, strict=True
        ):
            xy = level_points(height, width, stride, device)
            extra = torch.tensor([stride, lower, upper], device=device).expand(len(xy), 3)
            rows.append(torch.cat([xy, extra], dim=1))
        return torch.cat(rows)

    def assign(self, points: Tensor, boxes: Tensor) -> Tensor:
        """points: (P, 5) from ``points``, boxes: (M, 4) xyxy -> (P,) long box index, -1 = none."""
        if not len(boxes):
            return torch.full((len(points),), -1, dtype=torch.long, device=points.device)
        xy, stride, lower, upper = points[:, :2], points[:, 2:3], points[:, 3:4], points[:, 4:5]
        ltrb = encode_boxes(xy[:, None], boxes)  # (P, M, 4)
        match = ltrb.amin(dim=2) > 0
        if self.center_sampling_radius is not None:
            centres = (boxes[:, :2] + boxes[:, 2:]) / 2
            offset = (xy[:, None] - centres[None]).abs().amax(dim=2)
            match &= offset < self.center_sampling_radius * stride
        largest = ltrb.amax(dim=2)
        match &= (largest > lower) & (largest <= upper)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        area = torch.where(match, area[None], torch.inf)
        smallest, index = area.min(dim=1)
        return torch.where(smallest.isfinite(), index, -1)

    def forward(
        self,
        outputs: tuple[Sequence[Tensor], Sequence[Tensor], Sequence[Tensor]],
        targets: Sequence[Mapping[str, Tensor]],
    ) -> Tensor:
        """See the class docstring."""
        cls_maps, box_maps, ctr_maps = outputs
        cls_logits = _flatten(cls_maps)  # (B, P, K)
        ltrb = _flatten(box_maps)  # (B, P, 4)
        centerness = _flatten(ctr_maps)[..., 0]  # (B, P)
        points = self.points([m.shape[-2:] for m in cls_maps], cls_logits.device)
        cls_target = torch.zeros_like(cls_logits)
        positive_boxes, positive_images, positive_points = [], [], []
        for image, target in enumerate(targets):
            boxes, labels = target["boxes"].float(), target["labels"]
            if "iscrowd" in target:
                keep = target["iscrowd"] == 0
                boxes, labels = boxes[keep], labels[keep]
            matched = self.assign(points, boxes)
            positive = (matched >= 0).nonzero()[:, 0]
            cls_target[image, positive, labels[matched[positive]]] = 1
            positive_boxes.append(boxes[matched[positive]])
            positive_images.append(torch.full_like(positive, image))
            positive_points.append(positive)
        images, where = torch.cat(positive_images), torch.cat(positive_points)
        gt_boxes = torch.cat(positive_boxes)
        num_positives = max(len(where), 1)
        predicted = decode_boxes(points[where, :2], ltrb[images, where])
        gt_ltrb = encode_boxes(points[where, :2], gt_boxes)
        lr, tb = gt_ltrb[:, 0::2], gt_ltrb[:, 1::2]
        ctr_target = torch.sqrt(lr.amin(dim=1) / lr.amax(dim=1) * (tb.amin(dim=1) / tb.amax(dim=1)))
        terms = {
            "classification": sigmoid_focal_loss(
                cls_logits, cls_target, self.focal_alpha, self.focal_gamma, reduction="sum"
            )
            / num_positives,
            "box": generalized_box_iou_loss(predicted, gt_boxes, reduction="sum") / num_positives,
            "centerness": F.binary_cross_entropy_with_logits(
                centerness[images, where], ctr_target, reduction="sum"
            )
            / num_positives,
        }
        self.parts = {name: term.detach() for name, term in terms.items()}
        return sum(terms.values())


def _flatten(maps: Sequence[Tensor]) -> Tensor:
    """[(B, C, H_l, W_l)] -> (B, sum_l H_l * W_l, C) float32, levels in order, points row-major."""
    return torch.cat([m.flatten(2).transpose(1, 2) for m in maps], dim=1).float()
