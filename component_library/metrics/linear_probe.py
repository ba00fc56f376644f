"""Linear-probe accuracy: a logistic regression trained on frozen features."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def linear_probe(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    num_classes: int,
    weight_decay: float = 1e-4,
    max_iter: int = 200,
) -> float:
    """Fit a logistic regression on ``train_*``; return its top-1 accuracy on ``test_*``.

    Features ``(N, C)`` are standardised with the train split's mean and standard
    deviation; the weights are fitted by full-batch L-BFGS on the cross-entropy plus
    ``weight_decay * ||W||^2``. Labels are ``(N,)`` class indices in ``[0, num_classes)``.
    Deterministic: the weights start at zero.
    """
    train_features, test_features = train_features.double(), test_features.double()
    mean = train_features.mean(dim=0)
    std = train_features.std(dim=0).clamp(min=1e-6)
    x, x_test = (train_features - mean) / std, (test_features - mean) / std
    y = train_labels.long()
    weight = torch.zeros(x.shape[1], num_classes, dtype=x.dtype, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=x.dtype, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight + bias, y) + weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    with torch.no_grad():
        predicted = (x_test @ weight + bias).argmax(dim=1)
    return (predicted == test_labels.long()).double().mean().item()
