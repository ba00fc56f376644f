"""KnnAccuracy against a brute-force numpy weighted kNN (InstDisc/DINO protocol)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from component_library.metrics.knn_accuracy import KnnAccuracy


def numpy_knn(
    bank: np.ndarray,
    bank_labels: np.ndarray,
    queries: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    k: int,
    temperature: float,
    leave_one_out: bool = False,
) -> float:
    """One query at a time: cosine similarity to every bank row, k best vote exp(s / T)."""
    bank = bank / np.linalg.norm(bank, axis=1, keepdims=True)
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    correct = 0
    for i, query in enumerate(queries):
        similarities = [(float(query @ row), j) for j, row in enumerate(bank)]
        if leave_one_out:
            similarities = [(s, j) for s, j in similarities if j != i]
        votes = np.zeros(num_classes)
        for similarity, j in sorted(similarities, reverse=True)[:k]:
            votes[bank_labels[j]] += np.exp(similarity / temperature)
        correct += int(np.argmax(votes) == labels[i])
    return correct / len(queries)


def _clusters(n: int, num_classes: int, dim: int, noise: float, seed: int):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_classes, dim))
    labels = rng.integers(0, num_classes, n)
    return (centres[labels] + noise * rng.normal(size=(n, dim))).astype(np.float32), labels


@pytest.mark.parametrize(
    ("k", "temperature", "chunk_size"), [(20, 0.07, 1024), (5, 0.5, 7), (1, 0.07, 64)]
)
def test_matches_numpy_with_a_bank(k: int, temperature: float, chunk_size: int) -> None:
    features, all_labels = _clusters(170, 5, 16, noise=2.0, seed=0)
    bank, bank_labels = features[:120], all_labels[:120]
    queries, labels = features[120:], all_labels[120:]
    metric = KnnAccuracy(5, k=k, temperature=temperature, chunk_size=chunk_size)
    # in several batches, as a validation loop feeds it
    for part in np.array_split(np.arange(120), 3):
        metric.update_bank(torch.from_numpy(bank[part]), torch.from_numpy(bank_labels[part]))
    for part in np.array_split(np.arange(50), 4):
        metric.update(torch.from_numpy(queries[part]), torch.from_numpy(labels[part]))
    expected = numpy_knn(bank, bank_labels, queries, labels, 5, k, temperature)
    assert 0.2 < expected < 1.0  # neither trivial nor hopeless, so the comparison means something
    assert metric.compute().item() == pytest.approx(expected, abs=1e-7)


def test_defaults_and_leave_one_out_without_a_bank() -> None:
    queries, labels = _clusters(90, 4, 8, noise=2.5, seed=2)
    metric = KnnAccuracy(4)
    assert (metric.k, metric.temperature, metric.chunk_size) == (20, 0.07, 1024)
    metric.update(torch.from_numpy(queries), torch.from_numpy(labels))
    expected = numpy_knn(queries, labels, queries, labels, 4, 20, 0.07, leave_one_out=True)
    assert 0.3 < expected < 1.0
    assert metric.compute().item() == pytest.approx(expected, abs=1e-7)
    # Leaving the query itself in would make every prediction trivially right.
    assert numpy_knn(queries, labels, queries, labels, 4, 1, 0.07) == 1.0


def test_leave_one_out_in_chunks_masks_each_query_itself() -> None:
    """Chunks of 16 queries: the masked entry of chunk row ``i`` is column ``start + i``."""
    queries, labels = _clusters(70, 4, 8, noise=2.5, seed=5)
    metric = KnnAccuracy(4, k=5, chunk_size=16)
    metric.update(torch.from_numpy(queries), torch.from_numpy(labels))
    expected = numpy_knn(queries, labels, queries, labels, 4, 5, 0.07, leave_one_out=True)
    assert metric.compute().item() == pytest.approx(expected, abs=1e-7)


def test_fewer_items_than_k_all_vote() -> None:
    """k = 20 (the default) over 6 queries without a bank: each query's 5 others vote."""
    queries, labels = _clusters(6, 2, 4, noise=2.0, seed=6)
    metric = KnnAccuracy(2)
    metric.update(torch.from_numpy(queries), torch.from_numpy(labels))
    expected = numpy_knn(queries, labels, queries, labels, 2, 20, 0.07, leave_one_out=True)
    assert metric.compute().item() == pytest.approx(expected, abs=1e-7)


def test_weights_outvote_a_majority_of_far_neighbours() -> None:
    """One very close neighbour of class 1 beats two far ones of class 0 at T = 0.07."""
    bank = torch.tensor([[1.0, 0.05], [0.2, 1.0], [0.2, 1.0]])
    metric = KnnAccuracy(2, k=3)
    metric.update_bank(bank, torch.tensor([1, 0, 0]))
    metric.update(torch.tensor([[1.0, 0.0]]), torch.tensor([1]))
    assert metric.compute().item() == 1.0
    metric.reset()
    metric.update_bank(bank, torch.tensor([1, 0, 0]))
    metric.update(torch.tensor([[1.0, 0.0]]), torch.tensor([1]))
    metric.temperature = 100.0  # nearly equal weights: the majority wins
    assert metric.compute().item() == 0.0


def test_states_are_gathered_by_concatenation() -> None:
    metric = KnnAccuracy(3)
    assert set(metric._reductions) == {
        "bank_features",
        "bank_labels",
        "query_features",
        "query_labels",
    }
    assert {fx.__name__ for fx in metric._reductions.values()} == {"dim_zero_cat"}


def test_compute_after_a_ddp_sync() -> None:
    """After the sync every state is one tensor, gathered from the ranks by concatenation."""
    features, all_labels = _clusters(100, 3, 8, noise=2.0, seed=4)
    bank, bank_labels = features[:60], all_labels[:60]
    queries, labels = features[60:], all_labels[60:]

    def two_equal_ranks(tensor: torch.Tensor, group: object = None) -> list[torch.Tensor]:
        return [tensor, tensor]

    metric = KnnAccuracy(
        3, k=5, dist_sync_fn=two_equal_ranks, distributed_available_fn=lambda: True
    )
    metric.update_bank(torch.from_numpy(bank), torch.from_numpy(bank_labels))
    metric.update(torch.from_numpy(queries), torch.from_numpy(labels))
    expected = numpy_knn(
        np.concatenate([bank, bank]),
        np.concatenate([bank_labels, bank_labels]),
        np.concatenate([queries, queries]),
        np.concatenate([labels, labels]),
        3,
        5,
        0.07,
    )
    # Twice the bank gives other top-5 neighbours, so a metric that skipped the sync would fail.
    assert expected != numpy_knn(bank, bank_labels, queries, labels, 3, 5, 0.07)
    assert metric.compute().item() == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize(
    ("num_classes", "k", "temperature"), [(5, 0, 0.07), (5, 20, 0.0), (1, 20, 0.07)]
)
def test_bad_arguments(num_classes: int, k: int, temperature: float) -> None:
    with pytest.raises(ValueError, match="KnnAccuracy: need"):
        KnnAccuracy(num_classes, k=k, temperature=temperature)
