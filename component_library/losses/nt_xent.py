"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et al., 2020)."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributed.nn.functional import all_gather


class NTXentLoss(nn.Module):
    """Contrastive loss over two augmented views of each image.

    The input is one ``(2B, D)`` tensor of projections in which rows ``i`` and
    ``i + B`` are the two views of image ``i`` (``torch.cat([z1, z2])``). Rows are
    L2-normalised; each of the ``2B`` rows is an anchor whose positive is its other
    view and whose negatives are the other ``2B - 2`` rows, its own similarity being
    masked out. The loss is the mean over all ``2B`` anchors of
    ``-log softmax(sim / temperature)[positive]``.

    Scale: this mean over ``2B`` anchors is the paper's
    ``L = 1/(2N) sum_k [l(2k-1, 2k) + l(2k, 2k-1)]`` and equals lightly's
    ``NTXentLoss``; google-research/simclr's TensorFlow code returns
    ``loss_a + loss_b`` (each a mean over ``B`` anchors), which is twice this value.
    A perfect embedding still scores ``> 0``; chance is ``log(2B - 1)``.

    Under DDP (``torch.distributed`` initialised, world size > 1) the negatives come
    from every rank: the rows are all-gathered with gradients flowing back to their
    rank, so that the DDP-averaged gradient equals the single-process gradient on the
    global batch. Every rank must then hold the same ``B``. Gradient accumulation
    does not add negatives: each micro-batch contrasts only within itself.

    Args:
        temperature: Softmax temperature ``> 0``; SimCLR uses 0.1 to 0.5.
        gather_distributed: All-gather negatives across ranks under DDP.
    """

    def __init__(self, temperature: float = 0.1, gather_distributed: bool = True) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"NTXentLoss: temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.gather_distributed = gather_distributed

    def forward(self, projections: Tensor, target: Tensor | None = None) -> Tensor:
        """``projections: (2B, D)``, views of image ``i`` at rows ``i`` and ``i + B`` -> scalar.

        ``target`` is ignored: the pairing is the label. It is accepted so that a
        generic ``loss(outputs, target)`` call works.
        """
        rows = projections.shape[0]
        if projections.ndim != 2 or rows < 2 or rows % 2:
            shape = tuple(projections.shape)
            raise ValueError(f"NTXentLoss: expected (2B, D) projections with B >= 1, got {shape}")
        # float32 even under autocast: at temperature 0.1, bf16 logits would lose
        # the small similarity differences the loss is about.
        with torch.autocast(projections.device.type, enabled=False):
            z = F.normalize(projections.float(), dim=1)
            keys, offset = z, 0
            if self.gather_distributed and _world_size() > 1:
                keys = torch.cat(all_gather(z))
                offset = dist.get_rank() * rows
            logits = z @ keys.T / self.temperature
            anchors = torch.arange(rows, device=z.device)
            # Each anchor's own similarity is masked; its positive is its other view.
            self_mask = torch.zeros_like(logits, dtype=torch.bool)
            self_mask[anchors, anchors + offset] = True
            positives = (anchors + rows // 2) % rows + offset
            return F.cross_entropy(logits.masked_fill(self_mask, float("-inf")), positives)


def _world_size() -> int:
    """Number of DDP ranks; 1 outside ``torch.distributed``."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
