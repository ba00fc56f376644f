"""Weighted k-nearest-neighbour top-1 accuracy, the standard monitor of self-supervised features.

The classifier of Wu et al. (InstDisc, 2018) as DINO's benchmark uses it: features
are L2-normalised, a query's ``k`` most cosine-similar bank features vote for
their labels with weight ``exp(similarity / temperature)``, and the class with
the largest summed vote is the prediction.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat


class KnnAccuracy(Metric):
    """Top-1 accuracy of a weighted kNN classifier over a labelled feature bank.

    ``update_bank(features (N, C), labels (N,))`` adds to the bank (e.g. the labelled
    train split); ``update(features (M, C), labels (M,))`` adds queries (e.g. the val
    split). With an empty bank, ``compute`` classifies each query by the other
    queries (leave-one-out), so a single labelled split is enough. Both are kept
    whole until ``compute`` and gathered across ranks by concatenation.

    The neighbour search is an exact ``torch.mm`` + ``topk`` over chunks of
    ``chunk_size`` queries, fine for a monitoring split of up to ~10^5 images.

    Args:
        num_classes: Number of classes ``K``; labels are in ``[0, K)``.
        k: Number of neighbours (fewer when the bank is smaller).
        temperature: Vote weight ``exp(similarity / temperature)``.
        chunk_size: Queries compared with the bank at once (memory ``chunk_size x N``).
        **kwargs: torchmetrics ``Metric`` options (e.g. ``dist_sync_on_step``).
    """

    full_state_update = False
    higher_is_better = True
    bank_features: list[Tensor]
    bank_labels: list[Tensor]
    query_features: list[Tensor]
    query_labels: list[Tensor]

    def __init__(
        self,
        num_classes: int,
        k: int = 20,
        temperature: float = 0.07,
        chunk_size: int = 1024,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if k < 1 or temperature <= 0 or num_classes < 2:
            raise ValueError(
                f"KnnAccuracy: need num_classes >= 2, k >= 1 and temperature > 0, "
                f"got {num_classes}, {k}, {temperature}"
            )
        self.num_classes, self.k, self.temperature = num_classes, k, temperature
        self.chunk_size = chunk_size
        for name in ("bank_features", "bank_labels", "query_features", "query_labels"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update_bank(self, features: Tensor, labels: Tensor) -> None:
        """Add labelled ``(N, C)`` features with ``(N,)`` labels to the neighbour bank."""
        self.bank_features.append(F.normalize(features.detach().float(), dim=1))
        self.bank_labels.append(labels.detach().long())

    def update(self, features: Tensor, labels: Tensor) -> None:
        """Add ``(M, C)`` query features with their ``(M,)`` true labels."""
        self.query_features.append(F.normalize(features.detach().float(), dim=1))
        self.query_labels.append(labels.detach().long())

    def compute(self) -> Tensor:
        """Fraction of queries whose weighted kNN vote is their label (a float scalar)."""
        queries, labels = dim_zero_cat(self.query_features), dim_zero_cat(self.query_labels)
        # A list of batches before a DDP sync, one concatenated tensor after it.
        leave_one_out = len(self.bank_features) == 0
        if leave_one_out:
            bank, bank_labels = queries, labels
        else:
            bank, bank_labels = dim_zero_cat(self.bank_features), dim_zero_cat(self.bank_labels)
        k = min(self.k, len(bank) - leave_one_out)
        correct = torch.zeros((), dtype=torch.long, device=queries.device)
        for start in range(0, len(queries), self.chunk_size):
            similarity = queries[start : start + self.chunk_size] @ bank.T
            rows = torch.arange(len(similarity), device=similarity.device)
            if leave_one_out:
                similarity[rows, rows + start] = float("-inf")
            top, index = similarity.topk(k, dim=1)
            votes = torch.zeros(len(similarity), self.num_classes, device=similarity.device)
            votes.scatter_add_(1, bank_labels[index], (top / self.temperature).exp())
            predicted = votes.argmax(dim=1)
            correct += (predicted == labels[start : start + self.chunk_size]).sum()
        return correct.float() / len(queries)
