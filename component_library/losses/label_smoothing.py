"""Cross-entropy against label-smoothed targets."""

from __future__ import annotations

from collections.abc import Sequence

from .cross_entropy import CrossEntropyLoss


class LabelSmoothingCrossEntropy(CrossEntropyLoss):
    """Cross-entropy whose target puts ``1 - smoothing`` on the true class and
    spreads ``smoothing`` uniformly over all ``K`` classes (Szegedy et al. 2016).

    For a sample with true class ``y`` and log-probabilities ``log p``::

        loss = (1 - smoothing) * -log p[y] + smoothing * mean_k(-log p[k])

    Shapes, ``weight`` and ``ignore_index`` are as in ``CrossEntropyLoss``:
    logits ``(B, K[, H, W])``, target ``(B[, H, W])`` long -> scalar.
    """

    def __init__(
        self,
        smoothing: float = 0.1,
        weight: Sequence[float] | None = None,
        ignore_index: int = -100,
    ) -> None:
        super().__init__(weight=weight, ignore_index=ignore_index, label_smoothing=smoothing)
