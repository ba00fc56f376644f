"""Multi-similarity loss with in-batch pair mining (Wang et al. 2019), for metric learning."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MultiSimilarityLoss(nn.Module):
    """Pairs from one batch: mined by their relative similarity, weighted by three similarities.

    For an anchor ``i`` with cosine similarities ``S_ij`` to the other items of the batch,
    positives ``P_i`` (same label, ``j != i``) and negatives ``N_i`` (other labels):

    1. Mining keeps the negatives with ``S_ij > min_{P_i} S - epsilon`` and the
       positives with ``S_ij < max_{N_i} S + epsilon`` (the informative pairs).
    2. With the kept pairs ``P~_i`` and ``N~_i``::

        L_i = 1/alpha * log(1 + sum_{P~_i} exp(-alpha * (S_ij - lam)))
            + 1/beta  * log(1 + sum_{N~_i} exp( beta * (S_ij - lam)))

    The loss is ``sum_i L_i / B`` over the anchors that keep at least one positive
    and one negative (as in the authors' code); 0 when none does, e.g. a batch
    without two items of one label. A batch from ``PKSampler`` (P labels x K
    images) gives every anchor ``K - 1`` positives.

    Args:
        alpha: Positive scale (2 in the paper).
        beta: Negative scale (50 in the paper).
        lam: Similarity margin ``lambda`` the scores are centred on.
        epsilon: Mining margin.

    Shapes: embeddings ``(B, D)`` (L2-normalised here), labels ``(B,)`` -> scalar.
    """

    def __init__(
        self, alpha: float = 2.0, beta: float = 50.0, lam: float = 0.5, epsilon: float = 0.1
    ) -> None:
        super().__init__()
        if alpha <= 0 or beta <= 0:
            raise ValueError(
                f"MultiSimilarityLoss: alpha and beta must be > 0, got {alpha}, {beta}"
            )
        self.alpha, self.beta, self.lam, self.epsilon = alpha, beta, lam, epsilon

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """embeddings ``(B, D)``, labels ``(B,)`` -> scalar loss."""
        x = F.normalize(embeddings, dim=1)
        sim = x @ x.T
        same = labels[:, None] == labels[None, :]
        positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        negative = ~same
        with torch.no_grad():
            hardest_positive = sim.masked_fill(~positive, float("inf")).amin(dim=1, keepdim=True)
            hardest_negative = sim.masked_fill(~negative, float("-inf")).amax(dim=1, keepdim=True)
        negative &= sim + self.epsilon > hardest_positive
        positive &= sim - self.epsilon < hardest_negative
        pos_term = _log1p_sum_exp(-self.alpha * (sim - self.lam), positive) / self.alpha
        neg_term = _log1p_sum_exp(self.beta * (sim - self.lam), negative) / self.beta
        anchors = positive.any(dim=1) & negative.any(dim=1)
        return (pos_term + neg_term)[anchors].sum() / len(labels)


def _log1p_sum_exp(values: Tensor, mask: Tensor) -> Tensor:
    """``log(1 + sum_j exp(values_ij))`` over the masked ``j`` of each row, computed stably."""
    masked = values.masked_fill(~mask, float("-inf"))
    return torch.logsumexp(F.pad(masked, (0, 1), value=0.0), dim=1)
