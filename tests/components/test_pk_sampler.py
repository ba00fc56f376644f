"""PKSampler: P identities x K images per batch, epoch length, seeds, and rank sharding."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from component_library.samplers.pk_sampler import PKSampler

# 12 identities: sizes 1..12, so some have fewer than K images.
LABELS = [identity for identity in range(12) for _ in range(identity + 1)]


def test_each_batch_has_p_distinct_identities_with_k_images() -> None:
    sampler = PKSampler(LABELS, p=4, k=3)
    batches = list(sampler)
    assert len(batches) == len(sampler) == len(LABELS) // 12
    for batch in batches:
        counts = Counter(LABELS[i] for i in batch)
        assert len(batch) == 12 and len(counts) == 4 and set(counts.values()) == {3}


def test_without_replacement_when_an_identity_has_enough_images() -> None:
    for batch in PKSampler(LABELS, p=4, k=3, batches_per_epoch=50):
        by_identity: dict[int, list[int]] = {}
        for index in batch:
            by_identity.setdefault(LABELS[index], []).append(index)
        for identity, indices in by_identity.items():
            if identity + 1 >= 3:  # identity i has i + 1 images
                assert len(set(indices)) == 3
            else:
                assert set(indices) <= {i for i, label in enumerate(LABELS) if label == identity}


def test_all_identities_are_drawn_over_an_epoch() -> None:
    seen = {LABELS[i] for batch in PKSampler(LABELS, p=4, k=2, batches_per_epoch=40) for i in batch}
    assert seen == set(range(12))


def test_deterministic_per_seed_and_epoch() -> None:
    first, again = PKSampler(LABELS, 3, 2, seed=1), PKSampler(LABELS, 3, 2, seed=1)
    assert list(first) == list(again) == list(first)  # re-iterating repeats the epoch
    assert list(PKSampler(LABELS, 3, 2, seed=2)) != list(first)
    again.set_epoch(1)
    assert list(again) != list(first)


def test_ranks_split_the_epoch_without_overlap() -> None:
    single = list(PKSampler(LABELS, 2, 2, batches_per_epoch=9, seed=3))
    shards = [
        list(PKSampler(LABELS, 2, 2, batches_per_epoch=9, seed=3, num_replicas=2, rank=r))
        for r in range(2)
    ]
    assert len(shards[0]) == len(shards[1]) == 5  # 9 rounded up to 10 over 2 ranks
    assert shards[0][:5] == single[0:9:2] and shards[1][:4] == single[1:9:2]


def test_plugs_into_a_dataloader() -> None:
    dataset = TensorDataset(torch.arange(len(LABELS)), torch.tensor(LABELS))
    loader = DataLoader(dataset, batch_sampler=PKSampler(LABELS, p=4, k=2))
    indices, labels = next(iter(loader))
    assert indices.shape == labels.shape == (8,)
    assert np.array_equal(np.asarray(LABELS)[indices.numpy()], labels.numpy())
    assert len(loader) == len(LABELS) // 8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p": 13, "k": 2}, "p=13 identities per batch, but the data has 12"),
        ({"p": 0, "k": 2}, "p and k must be >= 1"),
        ({"p": 2, "k": 2, "num_replicas": 2, "rank": 2}, r"rank 2 outside \[0, 2\)"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PKSampler(LABELS, **kwargs)
