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


def _tiny_signal_among_large_nuisances(n: int, generator: torch.Generator):
    """2 classes, 70 % class 0; feature 0 separates them at a scale of 1e-3, the other 7
    are noise at a scale of 10."""
    labels = (torch.rand(n, generator=generator) < 0.3).long()
    features = 10 * torch.randn(n, 8, generator=generator)
    features[:, 0] = 1e-3 * (4.0 * labels + torch.randn(n, generator=generator))
    return features, labels


def test_each_feature_is_standardised_on_its_own() -> None:
    """Only a per-feature scale lifts feature 0 to where the weight decay lets it count."""
    generator = torch.Generator().manual_seed(3)
    train = _tiny_signal_among_large_nuisances(300, generator)
    test = _tiny_signal_among_large_nuisances(300, generator)
    assert linear_probe(*train, *test, num_classes=2) >= 0.95


def test_strong_weight_decay_leaves_only_the_class_prior() -> None:
    """With the weights held at ~0, the bias alone predicts the majority class everywhere."""
    generator = torch.Generator().manual_seed(3)
    train = _tiny_signal_among_large_nuisances(300, generator)
    test_features, test_labels = _tiny_signal_among_large_nuisances(300, generator)
    majority = (test_labels == 0).double().mean().item()
    assert majority < 0.8
    accuracy = linear_probe(*train, test_features, test_labels, num_classes=2, weight_decay=1e3)
    assert accuracy == majority


def test_default_budget_is_200_lbfgs_iterations_with_line_search(monkeypatch) -> None:
    made = []
    lbfgs = torch.optim.LBFGS

    def spy(params, **kwargs):
        made.append(kwargs)
        return lbfgs(params, **kwargs)

    monkeypatch.setattr(torch.optim, "LBFGS", spy)
    generator = torch.Generator().manual_seed(4)
    features, labels = _features(40, generator)
    accuracy = linear_probe(features, labels, features, labels, num_classes=4, weight_decay=0.1)
    assert accuracy >= 0.99
    assert made == [{"max_iter": 200, "line_search_fn": "strong_wolfe"}]
