"""Class-balanced batches for metric learning: P identities x K images each."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch.distributed as dist
from torch.utils.data import Sampler


class PKSampler(Sampler[list[int]]):
    """A batch sampler: each batch holds ``K`` images of each of ``P`` distinct identities.

    Every batch draws ``P`` identities uniformly (without replacement within the
    batch), then ``K`` images of each: without replacement when the identity has
    at least ``K`` images, with replacement otherwise. So every anchor has
    positives in the batch, which pair losses (``MultiSimilarityLoss``) need.

    An epoch is ``batches_per_epoch`` batches in all ranks together (default:
    as many as the dataset fills, ``len(labels) // (P * K)``), rounded up to a
    multiple of the number of ranks; rank ``r`` takes batches ``r, r + W, ...``,
    so all ranks run the same number of steps and never share a batch. The
    batches depend only on ``seed`` and the epoch (``set_epoch``, as with
    ``DistributedSampler``). Pass it as ``DataLoader(dataset, batch_sampler=...)``.

    Args:
        labels: Identity of every dataset item, in dataset order.
        p: Identities per batch.
        k: Images per identity per batch.
        batches_per_epoch: Batches per epoch over all ranks; ``None`` for the default.
        seed: Base seed of the random draws.
        num_replicas: Number of ranks ``W``; ``None`` reads the process group (1 without one).
        rank: This rank; ``None`` reads the process group (0 without one).
    """

    def __init__(
        self,
        labels: Sequence[int],
        p: int,
        k: int,
        batches_per_epoch: int | None = None,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        if p < 1 or k < 1:
            raise ValueError(f"PKSampler: p and k must be >= 1, got p={p}, k={k}")
        identities, inverse = np.unique(np.asarray(labels), return_inverse=True)
        if len(identities) < p:
            raise ValueError(
                f"PKSampler: p={p} identities per batch, but the data has {len(identities)}"
            )
        distributed = dist.is_available() and dist.is_initialized()
        self.num_replicas = num_replicas or (dist.get_world_size() if distributed else 1)
        self.rank = rank if rank is not None else (dist.get_rank() if distributed else 0)
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"PKSampler: rank {self.rank} outside [0, {self.num_replicas})")
        order = np.argsort(inverse, kind="stable")
        self.members = np.split(order, np.cumsum(np.bincount(inverse))[:-1])
        self.p, self.k, self.seed, self.epoch = p, k, seed, 0
        total = batches_per_epoch or max(1, len(inverse) // (p * k))
        self.batches_per_rank = -(-total // self.num_replicas)

    def set_epoch(self, epoch: int) -> None:
        """Draw different batches in each epoch (same ones for the same epoch and seed)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.batches_per_rank

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng((self.seed, self.epoch))
        for number in range(self.batches_per_rank * self.num_replicas):
            batch = []
            for identity in rng.choice(len(self.members), self.p, replace=False):
                members = self.members[identity]
                replace = len(members) < self.k
                batch += rng.choice(members, self.k, replace=replace).tolist()
            if number % self.num_replicas == self.rank:
                yield batch
