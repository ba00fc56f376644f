"""linear_probe: separable features reach ~1.0, random labels stay near chance."""

from __future__ import annotations

import torch

from component_library.metrics.linear_probe import linear_probe


def _features(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """4 classes separated along fixed directions, plus nuisance dimensions."""
    labels = torch.randint(0, 4, (n,), generator=generator)
    features = torch.randn(n, 32, generator=generator)
    features[:, :4] += 4.0 * torch.nn.functional.one_hot(labels, 4)
    return features * 7.0 + 3.0, labels  # off-centre and scaled: the probe standardises


def test_linearly_separable_features_reach_one() -> None:
    generator = torch.Generator().manual_seed(0)
    train, test = _features(400, generator), _features(200, generator)
    assert linear_probe(*train, *test, num_classes=4) >= 0.98


def test_random_labels_stay_near_chance() -> None:
    generator = torch.Generator().manual_seed(1)
    train_features = torch.randn(400, 32, generator=generator)
    test_features = torch.randn(400, 32, generator=generator)
    train_labels = torch.randint(0, 4, (400,), generator=generator)
    test_labels = torch.randint(0, 4, (400,), generator=generator)
    accuracy = linear_probe(train_features, train_labels, test_features, test_labels, num_classes=4)
    assert 0.15 <= accuracy <= 0.35  # chance is 0.25


def test_deterministic_and_fits_its_train_set() -> None:
    generator = torch.Generator().manual_seed(2)
    features, labels = _features(300, generator)
    first = linear_probe(features, labels, features, labels, num_classes=4)
    assert first == linear_probe(features, labels, features, labels, num_classes=4)
    assert first >= 0.99
