"""Cross-entropy loss with class weights, ignore_index and label smoothing."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class CrossEntropyLoss(nn.Module):
    """Softmax cross-entropy, a thin module over ``F.cross_entropy``.

    Works for classification and segmentation alike:

    - logits ``(B, K)`` and target ``(B,)`` long class indices;
    - logits ``(B, K, H, W)`` and target ``(B, H, W)`` long class indices.

    Args:
        weight: optional per-class weights, length ``K``. The mean is then
            taken with those weights, as in ``F.cross_entropy``.
        ignore_index: target value that contributes neither loss nor gradient.
        label_smoothing: in ``[0, 1]``; mixes the one-hot target with the
            uniform distribution over the ``K`` classes.

    Returns a scalar: the mean over the non-ignored targets. A batch where
    every target is ``ignore_index`` gives NaN, as ``F.cross_entropy`` does.
    """

    weight: Tensor | None

    def __init__(
        self,
        weight: Sequence[float] | None = None,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(
                f"{type(self).__name__}: label smoothing must be in [0, 1], got {label_smoothing}"
            )
        # A buffer, so the weights follow the module to the logits' device.
        self.register_buffer(
            "weight", None if weight is None else torch.tensor(weight, dtype=torch.float32)
        )
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """logits: (B, K[, H, W]), target: (B[, H, W]) long -> scalar."""
        return F.cross_entropy(
            logits,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
        )
