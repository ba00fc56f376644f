"""The embedding head of a retrieval model: projection, BatchNorm, unit length."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class EmbeddingHead(nn.Module):
    """A linear projection and ``BatchNorm1d``, then L2 normalisation.

    The output is what inference and export return and what the retrieval index
    stores: inner products between outputs are cosine similarities. A margin head
    (``ArcFace``, ``CosFace``...) or a pair loss sits on top of it in training only.

    Args:
        in_channels: Size ``C`` of the pooled feature vector.
        embedding_dim: Size ``D`` of the embedding.
        dropout: Dropout probability before the projection (inactive in eval).
    """

    def __init__(self, in_channels: int, embedding_dim: int = 512, dropout: float = 0.0) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.dropout = nn.Dropout(dropout)
        # No bias: the BatchNorm that follows has its own shift.
        self.projection = nn.Linear(in_channels, embedding_dim, bias=False)
        self.norm = nn.BatchNorm1d(embedding_dim)

    def forward(self, x: Tensor, image_size: tuple[int, int] | None = None) -> Tensor:
        """``x: (B, C)`` -> unit-length embeddings ``(B, D)``.

        ``image_size`` is ignored: every head takes ``(features, image_size)``, so a
        model calls vector and map heads alike.
        """
        return F.normalize(self.norm(self.projection(self.dropout(x))), dim=1)
