"""Global poolings: every catalogue entry, then each one against its reference formula."""

from __future__ import annotations

import pytest
import torch

from component_library.poolings.avg_max_pool import AvgMaxPool
from component_library.poolings.avg_pool import AvgPool
from component_library.poolings.gem import GeM
from component_library.poolings.max_pool import MaxPool

from .catalogue import entries, load


@pytest.fixture
def x() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(2, 8, 5, 7)


@pytest.mark.parametrize("name", sorted(entries("poolings")))
def test_output_is_a_vector_of_out_channels(name: str, x: torch.Tensor) -> None:
    pool = load("poolings", name)(in_channels=8)
    x.requires_grad_(True)
    y = pool(x)
    assert y.shape == (2, pool.out_channels)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


# Each catalogue pooling at its DEFAULT parameters (what generated configs use), by formula.
DEFAULT_REFERENCES = {
    "avg": lambda x: x.mean(dim=(2, 3)),
    "max": lambda x: x.amax(dim=(2, 3)),
    "avgmax": lambda x: torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1),
    "gem": lambda x: (x.clamp(min=1e-6) ** 3).mean(dim=(2, 3)) ** (1 / 3),  # p = 3, eps = 1e-6
}


@pytest.mark.parametrize("name", sorted(entries("poolings")))
def test_defaults_match_reference(name: str, x: torch.Tensor) -> None:
    pool = load("poolings", name)(8)
    expected = DEFAULT_REFERENCES[name](x)
    assert pool.out_channels == expected.shape[1]
    torch.testing.assert_close(pool(x), expected)


def test_gem_default_eps_clamps_tiny_inputs() -> None:
    tiny = torch.full((1, 1, 2, 2), 1e-9)
    torch.testing.assert_close(GeM(1)(tiny), torch.tensor([[1e-6]]))


def test_avg_pool_is_the_spatial_mean(x: torch.Tensor) -> None:
    torch.testing.assert_close(AvgPool(8)(x), x.mean(dim=(2, 3)))


def test_max_pool_is_the_spatial_max(x: torch.Tensor) -> None:
    torch.testing.assert_close(MaxPool(8)(x), x.amax(dim=(2, 3)))


def test_avg_max_pool_concatenates_avg_then_max(x: torch.Tensor) -> None:
    pool = AvgMaxPool(8)
    assert pool.out_channels == 16
    torch.testing.assert_close(pool(x), torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1))


def test_gem_matches_its_formula(x: torch.Tensor) -> None:
    pool = GeM(8, p=3.0, eps=1e-6)
    expected = (x.clamp(min=1e-6) ** 3).mean(dim=(2, 3)) ** (1 / 3)
    torch.testing.assert_close(pool(x), expected)


def test_gem_spans_avg_to_max(x: torch.Tensor) -> None:
    positive = x.double().abs() + 0.1  # float64: x ** 200 overflows float32
    torch.testing.assert_close(GeM(8, p=1.0)(positive), positive.mean(dim=(2, 3)))
    torch.testing.assert_close(
        GeM(8, p=200.0)(positive), positive.amax(dim=(2, 3)), rtol=0.03, atol=0.0
    )


def test_gem_learns_p(x: torch.Tensor) -> None:
    pool = GeM(8)
    pool(x).sum().backward()
    assert pool.p.grad is not None and pool.p.grad.abs().item() > 0


def test_gem_rejects_non_positive_p() -> None:
    with pytest.raises(ValueError, match="p must be > 0"):
        GeM(8, p=0.0)
