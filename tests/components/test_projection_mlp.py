"""ProjectionMLP: SimCLR v1 layout at the defaults, depth and width, BN placement, gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from component_library.heads.projection_mlp import ProjectionMLP


def _types(head: ProjectionMLP) -> list[type[nn.Module]]:
    return [type(layer) for layer in head.layers]


def test_defaults_are_simclr_v1() -> None:
    head = ProjectionMLP(512)
    assert _types(head) == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    first, last = head.layers[0], head.layers[3]
    assert (first.in_features, first.out_features, first.bias) == (512, 512, None)
    assert (last.in_features, last.out_features) == (512, 128) and last.bias is not None
    assert head.out_channels == 128
    assert head(torch.randn(4, 512)).shape == (4, 128)


@pytest.mark.parametrize(("num_layers", "hidden_dim"), [(1, None), (3, 64), (4, 32)])
def test_depth_width_and_bn_after_every_hidden_linear(num_layers: int, hidden_dim: int) -> None:
    head = ProjectionMLP(48, out_dim=16, hidden_dim=hidden_dim, num_layers=num_layers)
    hidden = [nn.Linear, nn.BatchNorm1d, nn.ReLU] * (num_layers - 1)
    assert _types(head) == [*hidden, nn.Linear]
    linears = [m for m in head.layers if isinstance(m, nn.Linear)]
    widths = [(m.in_features, m.out_features) for m in linears]
    inner = hidden_dim or 48
    assert widths == [(48, inner)] * (num_layers > 1) + [(inner, inner)] * max(
        num_layers - 2, 0
    ) + [(inner if num_layers > 1 else 48, 16)]
    assert [m.num_features for m in head.layers if isinstance(m, nn.BatchNorm1d)] == [inner] * (
        num_layers - 1
    )
    assert head(torch.randn(5, 48)).shape == (5, 16)


def test_hidden_activations_are_batch_normalised_in_training() -> None:
    head = ProjectionMLP(8, out_dim=4, hidden_dim=6)
    x = torch.randn(32, 8) * 5 + 3
    normalised = head.layers[1](head.layers[0](x))
    torch.testing.assert_close(normalised.mean(0), torch.zeros(6), atol=1e-5, rtol=0)
    torch.testing.assert_close(normalised.var(0, unbiased=False), torch.ones(6), atol=1e-3, rtol=0)


def test_eval_uses_running_statistics_and_is_deterministic() -> None:
    head = ProjectionMLP(8).eval()
    x = torch.randn(1, 8)  # a single sample only works with running statistics
    torch.testing.assert_close(head(x), head(x), rtol=0, atol=0)


@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_gradients_reach_every_parameter_and_the_input(num_layers: int) -> None:
    head = ProjectionMLP(16, out_dim=8, num_layers=num_layers)
    x = torch.randn(4, 16, requires_grad=True)
    (head(x) * torch.randn(4, 8)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())


def test_bad_depth() -> None:
    with pytest.raises(ValueError, match="num_layers must be >= 1"):
        ProjectionMLP(8, num_layers=0)
