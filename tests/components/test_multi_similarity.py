"""MultiSimilarityLoss against the authors' per-anchor loop; mining, empty batches, gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from component_library.losses.multi_similarity import MultiSimilarityLoss


def _loop(embeddings, labels, alpha=2.0, beta=50.0, lam=0.5, epsilon=0.1) -> float:
    """One anchor at a time, in float64, following the paper's equations."""
    x = F.normalize(embeddings.double(), dim=1)
    total = 0.0
    for i in range(len(labels)):
        pos = [float(x[i] @ x[j]) for j in range(len(labels)) if j != i and labels[j] == labels[i]]
        neg = [float(x[i] @ x[j]) for j in range(len(labels)) if labels[j] != labels[i]]
        if not pos or not neg:
            continue
        kept_neg = [s for s in neg if s + epsilon > min(pos)]
        kept_pos = [s for s in pos if s - epsilon < max(neg)]
        if not kept_neg or not kept_pos:
            continue
        total += math.log(1 + sum(math.exp(-alpha * (s - lam)) for s in kept_pos)) / alpha
        total += math.log(1 + sum(math.exp(beta * (s - lam)) for s in kept_neg)) / beta
    return total / len(labels)


@pytest.mark.parametrize("seed", range(4))
def test_matches_loop_at_defaults(seed: int) -> None:
    torch.manual_seed(seed)
    labels = torch.randint(0, 5, (24,))
    # Some structure, so that mining keeps some pairs and drops others.
    embeddings = torch.randn(5, 16)[labels] + 0.8 * torch.randn(24, 16)
    loss = MultiSimilarityLoss()(embeddings, labels)
    assert loss.item() == pytest.approx(_loop(embeddings, labels), rel=1e-5, abs=1e-6)


def test_matches_loop_with_other_parameters() -> None:
    torch.manual_seed(5)
    labels = torch.arange(8).repeat_interleave(4)
    embeddings = torch.randn(32, 8)
    params = {"alpha": 1.0, "beta": 20.0, "lam": 0.3, "epsilon": 0.3}
    loss = MultiSimilarityLoss(**params)(embeddings, labels)
    assert loss.item() == pytest.approx(_loop(embeddings, labels, **params), rel=1e-5)


def test_mining_drops_easy_pairs() -> None:
    # Anchor 0: positive 1 at cos 0.9, negatives 2 (cos 0.85, hard) and 3 (cos -0.5, easy).
    angle = [0.0, math.acos(0.9), -math.acos(0.85), math.acos(-0.5) + math.pi / 2]
    labels = torch.tensor([0, 0, 1, 2])
    embeddings = torch.tensor([[math.cos(a), math.sin(a)] for a in angle])
    expected = _loop(embeddings, labels)
    assert MultiSimilarityLoss()(embeddings, labels).item() == pytest.approx(expected, rel=1e-5)
    # Without mining (huge epsilon) the easy negative would count too: a different value.
    unmined = MultiSimilarityLoss(epsilon=10.0)(embeddings, labels).item()
    assert unmined != pytest.approx(expected, rel=1e-3)
    assert unmined == pytest.approx(_loop(embeddings, labels, epsilon=10.0), rel=1e-5)


def test_no_positive_pairs_gives_zero_with_gradient() -> None:
    embeddings = torch.randn(4, 8, requires_grad=True)
    loss = MultiSimilarityLoss()(embeddings, torch.arange(4))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(embeddings.grad, torch.zeros_like(embeddings))


def test_gradients_pull_positives_together() -> None:
    torch.manual_seed(6)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    embeddings = torch.randn(6, 4, requires_grad=True)
    loss_fn = MultiSimilarityLoss()
    loss = loss_fn(embeddings, labels)
    loss.backward()
    assert torch.isfinite(embeddings.grad).all() and embeddings.grad.abs().sum() > 0
    with torch.no_grad():
        stepped = embeddings - 0.05 * embeddings.grad
    assert loss_fn(stepped, labels) < loss


# Two batches where a similarity equals the mining threshold exactly (epsilon = 0; the
# zeros are exact in float32 too). Mining is strict, as in the paper and the authors' code.
NEGATIVE_TIE = [[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [2, 0, 1]], [0, 0, 0, 1, 1]
POSITIVE_TIE = [[1, 0, 0], [0, 1, 0], [-1, 1, 0], [0, 0, 1]], [0, 0, 0, 1]


@pytest.mark.parametrize(("embeddings", "labels"), [NEGATIVE_TIE, POSITIVE_TIE])
def test_a_pair_at_the_mining_threshold_is_dropped(embeddings: list, labels: list) -> None:
    """Anchor 0's hardest positive (first batch) or hardest negative (second) is at
    similarity 0, and so is the pair that must be dropped."""
    embeddings, labels = torch.tensor(embeddings, dtype=torch.float32), torch.tensor(labels)
    expected = _loop(embeddings, labels, epsilon=0.0)
    assert expected > 0
    loss = MultiSimilarityLoss(epsilon=0.0)(embeddings, labels)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_anchor_keeping_positives_but_no_negatives_is_skipped() -> None:
    """A float32 rounding tie at the margin: anchor 0's positive passes ``s_p - eps < max s_n``
    while its negative fails ``s_n + eps > min s_p``. Like the authors' code, the anchor is
    skipped; so are the other two of its plane. Three items in other dimensions (similarity
    0 to the first three, never mined) make the only contributing anchors."""
    a, b = 0.0442, 0.14419999
    plane = [[1.0, 0.0, 0, 0], [b, (1 - b * b) ** 0.5, 0, 0], [a, -((1 - a * a) ** 0.5), 0, 0]]
    others = [[0, 0, 1.0, 0], [0, 0, 0.6, 0.8], [0, 0, 0.8, 0.6]]
    embeddings = torch.tensor(plane + others)
    labels = torch.tensor([0, 0, 1, 2, 2, 3])
    x = F.normalize(embeddings, dim=1)
    sim = x @ x.T
    assert sim[0, 1] - 0.1 < sim[0, 2] and not sim[0, 2] + 0.1 > sim[0, 1]
    expected = _loop(embeddings[3:], labels[3:]) * 3 / 6
    assert expected > 0
    loss = MultiSimilarityLoss()(embeddings, labels)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_small_scales_are_valid() -> None:
    torch.manual_seed(7)
    labels = torch.arange(4).repeat_interleave(3)
    embeddings = torch.randn(12, 6)
    params = {"alpha": 0.5, "beta": 1.0}
    loss = MultiSimilarityLoss(**params)(embeddings, labels)
    assert loss.item() == pytest.approx(_loop(embeddings, labels, **params), rel=1e-5)


@pytest.mark.parametrize(("alpha", "beta"), [(0.0, 50.0), (2.0, 0.0), (-1.0, 50.0)])
def test_bad_scale_raises(alpha: float, beta: float) -> None:
    with pytest.raises(ValueError, match="alpha and beta must be > 0"):
        MultiSimilarityLoss(alpha=alpha, beta=beta)
