"""Where FCOS places its points, and how a point's ltrb distances become a box.

Both the loss (to assign targets) and the post-processing (to decode
predictions) use these, so training and inference agree on the geometry.
"""

from __future__ import annotations

import torch
from torch import Tensor


def level_points(
    height: int, width: int, stride: int, device: torch.device | None = None
) -> Tensor:
    """Image coordinates of the points of one ``(height, width)`` level -> ``(height * width, 2)``.

    Point ``(i, j)`` (row, column) sits at the centre of its ``stride x stride``
    cell, ``((j + 0.5) * stride, (i + 0.5) * stride)`` as ``(x, y)``, in the
    row-major order of ``map.flatten(2)``.
    """
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) * stride
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) * stride
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)


def decode_boxes(points: Tensor, ltrb: Tensor) -> Tensor:
    """points: (..., 2) xy, ltrb: (..., 4) distances to the box sides -> boxes (..., 4) xyxy."""
    return torch.cat([points - ltrb[..., :2], points + ltrb[..., 2:]], dim=-1)


def encode_boxes(points: Tensor, boxes: Tensor) -> Tensor:
    """points: (..., 2) xy, boxes: (..., 4) xyxy -> (..., 4) ltrb distances from points to sides.

    The inverse of ``decode_boxes``; shapes broadcast, so ``(N, 1, 2)`` points and
    ``(M, 4)`` boxes give every point's distances to every box, ``(N, M, 4)``.
    A point lies inside a box when all four distances are positive.
    """
    return torch.cat([points - boxes[..., :2], boxes[..., 2:] - points], dim=-1)
