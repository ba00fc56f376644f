"""A weighted sum of loss terms that also keeps each term, for logging."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn


class WeightedSum(nn.Module):
    """Combines named losses as ``sum(weight * loss)``.

    Args:
        terms: name -> ``(loss, weight)``; every loss maps
            ``(logits, target)`` to a scalar. The order is kept.

    ``forward(logits, target)`` returns the weighted sum, a scalar tensor, like
    any other loss. After each call, ``parts`` holds name -> each *unweighted*
    term (detached), so a training loop can log the terms without unpacking.
    A term that keeps ``parts`` of its own (e.g. FCOS's classification, box and
    centerness) adds them too, as ``<name>/<part>``.
    """

    def __init__(self, terms: Mapping[str, tuple[nn.Module, float]]) -> None:
        super().__init__()
        if not terms:
            raise ValueError("WeightedSum: terms is empty, give at least one loss")
        # A ModuleDict registers the losses, so their buffers follow .to(device).
        self.losses = nn.ModuleDict({name: loss for name, (loss, _) in terms.items()})
        self.weights = {name: float(weight) for name, (_, weight) in terms.items()}
        self.parts: dict[str, Tensor] = {}

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """logits, target: whatever the terms take -> scalar total; sets ``parts``."""
        parts = {name: loss(logits, target) for name, loss in self.losses.items()}
        self.parts = {}
        for name, value in parts.items():
            self.parts[name] = value.detach()
            for part, inner in getattr(self.losses[name], "parts", {}).items():
                self.parts[f"{name}/{part}"] = inner.detach()
        return sum(self.weights[name] * value for name, value in parts.items())
