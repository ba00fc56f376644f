"""LinearHead: shapes, the optional hidden layer, dropout only in training, gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from component_library.heads.linear_head import LinearHead


@pytest.mark.parametrize(("hidden_dim", "linears"), [(None, 1), (32, 2)])
def test_logits_shape_and_hidden_layer(hidden_dim: int | None, linears: int) -> None:
    head = LinearHead(16, 5, hidden_dim=hidden_dim)
    assert head(torch.randn(3, 16)).shape == (3, 5)
    layers = [m for m in head.modules() if isinstance(m, nn.Linear)]
    assert len(layers) == linears
    assert layers[0].in_features == 16 and layers[-1].out_features == 5
    if hidden_dim is not None:
        assert layers[0].out_features == hidden_dim == layers[1].in_features


def test_without_hidden_layer_it_is_one_affine_map() -> None:
    head = LinearHead(16, 5).eval()
    x = torch.randn(3, 16)
    (linear,) = [m for m in head.modules() if isinstance(m, nn.Linear)]
    torch.testing.assert_close(head(x), x @ linear.weight.T + linear.bias)


@pytest.mark.parametrize("hidden_dim", [None, 32])
def test_dropout_acts_in_training_only(hidden_dim: int | None) -> None:
    torch.manual_seed(0)
    head = LinearHead(64, 5, hidden_dim=hidden_dim, dropout=0.5)
    x = torch.randn(4, 64)
    assert not torch.equal(head(x), head(x))
    head.eval()
    torch.testing.assert_close(head(x), head(x), rtol=0, atol=0)


@pytest.mark.parametrize("hidden_dim", [None, 32])
def test_gradients_reach_every_parameter_and_the_input(hidden_dim: int | None) -> None:
    head = LinearHead(16, 5, hidden_dim=hidden_dim, dropout=0.1)
    x = torch.randn(3, 16, requires_grad=True)
    head(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())


def test_takes_the_image_size_like_every_head_and_ignores_it() -> None:
    head = LinearHead(16, 5).eval()
    x = torch.randn(3, 16)
    torch.testing.assert_close(head(x, (64, 48)), head(x), rtol=0, atol=0)
