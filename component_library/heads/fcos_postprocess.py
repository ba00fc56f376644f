"""FCOS post-processing: raw per-level outputs -> boxes, scores and labels per image.

One pure function for PyTorch outputs and for the numpy arrays onnxruntime
returns, so an exported model decodes exactly like the PyTorch one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torchvision.ops import batched_nms, clip_boxes_to_image

from ._fcos_geometry import decode_boxes, level_points


def fcos_postprocess(
    cls_logits: Sequence[Tensor | np.ndarray],
    box_regression: Sequence[Tensor | np.ndarray],
    centerness: Sequence[Tensor | np.ndarray],
    strides: Sequence[int],
    *,
    image_size: tuple[int, int] | None = None,
    score_threshold: float = 0.05,
    topk: int = 1000,
    nms_threshold: float = 0.6,
    max_detections: int = 100,
) -> list[dict[str, Tensor]]:
    """Detections of each image from FCOS head outputs.

    A point's score for class ``k`` is ``sqrt(sigmoid(cls_k) * sigmoid(centerness))``.
    On each level, the (point, class) pairs scoring above ``score_threshold``
    are kept, at most the ``topk`` best, and their boxes decoded from the
    point's position (see ``level_points``) and its ltrb distances. The levels'
    detections are then merged, suppressed per class with ``batched_nms``, and
    the ``max_detections`` best are returned.

    Args:
        cls_logits: per level ``(B, K, H_l, W_l)``.
        box_regression: per level ``(B, 4, H_l, W_l)`` ltrb distances in pixels.
        centerness: per level ``(B, 1, H_l, W_l)`` logits.
        strides: stride of each level.
        image_size: ``(H, W)`` of the network input; boxes are clipped to it.
        score_threshold, topk, nms_threshold, max_detections: see above.

    Returns one dict per image, on the outputs' device: ``boxes (N, 4)`` float32
    xyxy in input pixels, ``scores (N,)`` float32 descending, ``labels (N,)``
    long in ``[0, K)``.
    """
    cls_logits, box_regression, centerness = (
        [torch.as_tensor(x).float() for x in maps]
        for maps in (cls_logits, box_regression, centerness)
    )
    num_classes = cls_logits[0].shape[1]
    per_image: list[list[tuple[Tensor, Tensor, Tensor]]] = [[] for _ in cls_logits[0]]
    for cls, ltrb, ctr, stride in zip(cls_logits, box_regression, centerness, strides, strict=True):
        height, width = cls.shape[-2:]
        points = level_points(height, width, stride, cls.device)
        # (B, H*W, K) scores, and (B, H*W, 4) distances, points row-major like level_points.
        scores = torch.sqrt(torch.sigmoid(cls) * torch.sigmoid(ctr)).flatten(2).transpose(1, 2)
        ltrb = ltrb.flatten(2).transpose(1, 2)
        for image, detections in enumerate(per_image):
            flat = scores[image].flatten()
            candidates = (flat > score_threshold).nonzero()[:, 0]
            best = flat[candidates].topk(min(topk, len(candidates)))
            index = candidates[best.indices]
            point, label = index // num_classes, index % num_classes
            boxes = decode_boxes(points[point], ltrb[image, point])
            detections.append((boxes, best.values, label))
    results = []
    for detections in per_image:
        boxes, scores, labels = (torch.cat(column) for column in zip(*detections, strict=True))
        if image_size is not None:
            boxes = clip_boxes_to_image(boxes, image_size)
        keep = batched_nms(boxes, scores, labels, nms_threshold)[:max_detections]
        results.append({"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]})
    return results
