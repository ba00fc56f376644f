"""Additive-margin softmax heads for metric learning: ArcFace, Sub-center ArcFace, CosFace.

Each head holds one L2-normalised weight vector per class (per sub-center) and
turns L2-normalised embeddings into scaled cosine logits for a cross-entropy
loss. In training, and only for the target class, a margin makes the target
harder to reach; in eval mode (or without a target) the logits are the plain
scaled cosines ``s * cos(theta)``, so they rank classes like the embedding does.

Shapes: embeddings ``(B, D)``, target ``(B,)`` long class indices or ``None``
-> logits ``(B, K)``. The logits go to ``F.cross_entropy`` (or any loss on
logits); the head is dropped at inference and export, where the embedding is
the output.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_SINE_FLOOR = 1e-12
"""Keeps ``sqrt(1 - cos^2)`` finite in the backward pass at ``cos = +-1`` (where the clamp
passes no gradient); it moves the sine only where it is below 1e-6."""


class _CosineHead(nn.Module):
    """Class weights ``(K * sub_centers, D)`` and the cosines of embeddings to the nearest
    sub-center of every class; subclasses add their margin to the target cosine."""

    def __init__(self, in_channels: int, num_classes: int, scale: float, sub_centers: int) -> None:
        super().__init__()
        if scale <= 0:
            raise ValueError(f"{type(self).__name__}: scale must be > 0, got {scale}")
        if sub_centers < 1:
            raise ValueError(f"{type(self).__name__}: sub_centers must be >= 1, got {sub_centers}")
        self.num_classes = num_classes
        self.sub_centers = sub_centers
        self.scale = scale
        self.weight = nn.Parameter(torch.empty(num_classes * sub_centers, in_channels))
        nn.init.xavier_uniform_(self.weight)

    def cosine(self, embeddings: Tensor) -> Tensor:
        """``(B, D)`` -> ``(B, K)`` cosine to each class (its closest sub-center)."""
        cos = F.normalize(embeddings, dim=1) @ F.normalize(self.weight, dim=1).T
        return cos.view(len(cos), self.num_classes, self.sub_centers).amax(dim=2)

    def apply_margin(self, cos_target: Tensor) -> Tensor:
        """Target cosines -> the same with the margin applied, elementwise."""
        raise NotImplementedError

    def forward(self, embeddings: Tensor, target: Tensor | None = None) -> Tensor:
        """embeddings ``(B, D)``, target ``(B,)`` or ``None`` -> logits ``(B, K)``."""
        cos = self.cosine(embeddings)
        if self.training and target is not None:
            index = target.view(-1, 1)
            cos = cos.scatter(
                1, index, self.apply_margin(cos.gather(1, index).squeeze(1)).unsqueeze(1)
            )
        return self.scale * cos


class ArcFace(_CosineHead):
    """ArcFace (Deng et al. 2019): the target logit is ``s * cos(theta + m)``.

    ``cos(theta + m)`` would rise again once ``theta + m > pi``, so for
    ``theta >= pi - m`` the published formula (``easy_margin=False``, as in
    insightface) switches to the additive form ``cos(theta) - m * sin(m)``
    (``m * sin(pi - m)`` in the paper's code). At the boundary that drops the
    target from ``-1`` to ``-cos(m) - m * sin(m)``: the logit keeps falling with
    theta, so a larger angle is never rewarded. With ``easy_margin=True`` the
    margin applies only where ``cos(theta) > 0``.

    Args:
        in_channels: Embedding size ``D``.
        num_classes: Number of training identities ``K``.
        scale: ``s``, the radius of the hypersphere the logits live on.
        margin: ``m``, the additive angular margin in radians.
        easy_margin: Apply the margin only to targets with a positive cosine.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        scale: float = 30.0,
        margin: float = 0.5,
        easy_margin: bool = False,
        *,
        sub_centers: int = 1,
    ) -> None:
        super().__init__(in_channels, num_classes, scale, sub_centers)
        if not 0 <= margin < math.pi / 2:
            raise ValueError(f"{type(self).__name__}: margin must be in [0, pi/2), got {margin}")
        self.angular_margin = margin
        self.easy_margin = easy_margin
        self.cos_m, self.sin_m = math.cos(margin), math.sin(margin)
        # cos(pi - m) and m * sin(pi - m) = m * sin(m): the boundary and the additive fallback.
        self.threshold = math.cos(math.pi - margin)
        self.fallback = margin * math.sin(math.pi - margin)

    def apply_margin(self, cos_target: Tensor) -> Tensor:
        sine = (1.0 - cos_target.square()).clamp_min(_SINE_FLOOR).sqrt()
        phi = cos_target * self.cos_m - sine * self.sin_m  # cos(theta + m)
        if self.easy_margin:
            return torch.where(cos_target > 0, phi, cos_target)
        return torch.where(cos_target > self.threshold, phi, cos_target - self.fallback)


class SubCenterArcFace(ArcFace):
    """Sub-center ArcFace (Deng et al. 2020): ``sub_centers`` weight vectors per class.

    A class's cosine is that of its closest sub-center, so noisy or multi-modal
    identities can spread over several centers; the ArcFace margin then applies
    to that cosine. Arguments as for ``ArcFace``, plus ``sub_centers`` (3 in the paper).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        scale: float = 30.0,
        margin: float = 0.5,
        easy_margin: bool = False,
        sub_centers: int = 3,
    ) -> None:
        super().__init__(
            in_channels, num_classes, scale, margin, easy_margin, sub_centers=sub_centers
        )


class CosFace(_CosineHead):
    """CosFace / AM-Softmax (Wang et al. 2018): the target logit is ``s * (cos(theta) - m)``.

    Args:
        in_channels: Embedding size ``D``.
        num_classes: Number of training identities ``K``.
        scale: ``s``, the radius of the hypersphere the logits live on.
        margin: ``m``, subtracted from the target cosine.
    """

    def __init__(
        self, in_channels: int, num_classes: int, scale: float = 30.0, margin: float = 0.35
    ) -> None:
        super().__init__(in_channels, num_classes, scale, sub_centers=1)
        if margin < 0:
            raise ValueError(f"CosFace: margin must be >= 0, got {margin}")
        self.cosine_margin = margin

    def apply_margin(self, cos_target: Tensor) -> Tensor:
        return cos_target - self.cosine_margin
