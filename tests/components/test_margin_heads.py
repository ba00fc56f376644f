"""Margin heads and the embedding head: logits against the published formulas, per element."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from component_library.heads.embedding_head import EmbeddingHead
from component_library.heads.margin import ArcFace, CosFace, SubCenterArcFace

D, K = 8, 5


def _reference(head, x: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """One logit at a time, in float64, straight from the papers' definitions."""
    w = head.weight.detach().double().view(K, head.sub_centers, D)
    x = x.detach().double()
    out = torch.empty(len(x), K, dtype=torch.float64)
    for b in range(len(x)):
        for k in range(K):
            cos = max(
                float(x[b] @ w[k, c] / (x[b].norm() * w[k, c].norm()))
                for c in range(head.sub_centers)
            )
            value = cos
            if target is not None and k == int(target[b]):
                if isinstance(head, CosFace):
                    value = cos - head.cosine_margin
                else:
                    m = head.angular_margin
                    theta = math.acos(min(1.0, max(-1.0, cos)))
                    if head.easy_margin:
                        value = math.cos(theta + m) if cos > 0 else cos
                    elif theta < math.pi - m:  # cos(theta) > cos(pi - m)
                        value = math.cos(theta + m)
                    else:
                        value = cos - m * math.sin(math.pi - m)
            out[b, k] = head.scale * value
    return out


def _angled(weight: torch.Tensor, angles: list[float]) -> torch.Tensor:
    """Embeddings at the given angles from the unit weight row 0, in the plane of rows 0-1."""
    u = F.normalize(weight[0].detach(), dim=0)
    v = weight[1].detach() - (weight[1].detach() @ u) * u
    v = F.normalize(v, dim=0)
    return torch.stack([math.cos(a) * u + math.sin(a) * v for a in angles]) * 3.0


HEADS = {
    "arcface": lambda: ArcFace(D, K),
    "arcface_easy": lambda: ArcFace(D, K, scale=64.0, margin=0.3, easy_margin=True),
    "subcenter": lambda: SubCenterArcFace(D, K),
    "cosface": lambda: CosFace(D, K),
}


@pytest.mark.parametrize("name", HEADS)
def test_training_logits_match_formula_on_random_embeddings(name: str) -> None:
    torch.manual_seed(0)
    head = HEADS[name]().train()
    x, target = torch.randn(16, D), torch.randint(0, K, (16,))
    reference = _reference(head, x, target)
    torch.testing.assert_close(head(x, target).double(), reference, atol=2e-4, rtol=1e-5)


@pytest.mark.parametrize("name", HEADS)
def test_logits_near_theta_zero_and_pi_and_the_boundary(name: str) -> None:
    # float64, so that angles below float32's resolution of cos (~3e-4 rad) are exact.
    torch.manual_seed(1)
    head = HEADS[name]().double().train()
    m = getattr(head, "angular_margin", 0.5)
    angles = [0.0, 1e-5, 0.3, math.pi - m - 1e-4, math.pi - m + 1e-4, math.pi - 1e-5, math.pi]
    # Sub-center heads: make all sub-centers of class 0 the same, so the angle is exact.
    with torch.no_grad():
        rows = head.weight.view(K, head.sub_centers, D)
        rows[0] = rows[0, :1]
    x = _angled(head.weight.view(K, head.sub_centers, D)[:, 0], angles)
    target = torch.zeros(len(angles), dtype=torch.long)
    logits = head(x, target)
    assert torch.isfinite(logits).all()
    # 1e-4 covers the sine floor at exactly theta = 0 (s * sin(m) * 1e-6).
    torch.testing.assert_close(logits, _reference(head, x, target), atol=1e-4, rtol=1e-9)


def test_arcface_default_branches_are_monotone_across_the_boundary() -> None:
    head = ArcFace(D, K)
    assert (head.scale, head.angular_margin, head.easy_margin) == (30.0, 0.5, False)
    thetas = torch.linspace(0, math.pi, 2001, dtype=torch.float64)
    values = head.apply_margin(thetas.cos())
    assert (values.diff() < 0).all()  # harder target the larger the angle, through pi - m
    below, above = torch.tensor(
        [math.pi - 0.5 - 1e-9, math.pi - 0.5 + 1e-9], dtype=torch.float64
    ).cos()
    edge = head.apply_margin(torch.stack([below, above]))
    expected = [-1.0, -math.cos(0.5) - 0.5 * math.sin(0.5)]
    torch.testing.assert_close(edge, torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize("name", HEADS)
def test_eval_and_missing_target_give_plain_scaled_cosines(name: str) -> None:
    torch.manual_seed(2)
    head = HEADS[name]()
    x, target = torch.randn(6, D), torch.randint(0, K, (6,))
    plain = _reference(head, x, None)
    torch.testing.assert_close(head.train()(x).double(), plain, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(head.eval()(x, target).double(), plain, atol=1e-4, rtol=1e-5)
    trained = head.train()(x, target)
    changed = trained != head.eval()(x, target)
    # Only targets move: all of them, but easy margin leaves negative cosines alone.
    expected = F.one_hot(target, K).bool()
    if getattr(head, "easy_margin", False):
        expected &= plain > 0
    assert torch.equal(changed, expected)


def test_cosface_default_margin_is_constant_shift() -> None:
    head = CosFace(D, K).train()
    x, target = torch.randn(4, D), torch.tensor([0, 1, 2, 3])
    difference = head.eval()(x) - head.train()(x, target)
    expected = 30.0 * 0.35 * F.one_hot(target, K).float()
    torch.testing.assert_close(difference, expected)


def test_subcenter_takes_the_closest_center() -> None:
    head = SubCenterArcFace(D, K)
    assert head.weight.shape == (K * 3, D)
    with torch.no_grad():
        head.weight.view(K, 3, D)[2, 1] = torch.arange(D, dtype=torch.float32)
    x = torch.arange(D, dtype=torch.float32)[None]
    torch.testing.assert_close(head.eval()(x)[0, 2], torch.tensor(30.0))


@pytest.mark.parametrize("name", HEADS)
def test_gradients_reach_weights_and_embeddings_even_at_theta_zero(name: str) -> None:
    torch.manual_seed(3)
    head = HEADS[name]().train()
    x = torch.cat([torch.randn(3, D), head.weight[:1].detach().clone()]).requires_grad_()
    target = torch.tensor([0, 1, 2, 0])
    F.cross_entropy(head(x, target), target).backward()
    assert torch.isfinite(x.grad).all() and x.grad[:3].abs().sum() > 0
    assert torch.isfinite(head.weight.grad).all() and head.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ArcFace(D, K, margin=2.0), "margin must be in"),
        (lambda: CosFace(D, K, margin=-0.1), "margin must be >= 0"),
        (lambda: ArcFace(D, K, scale=0.0), "scale must be > 0"),
        (lambda: SubCenterArcFace(D, K, sub_centers=0), "sub_centers must be >= 1"),
    ],
)
def test_bad_arguments_raise(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_embedding_head_is_unit_length_projection_with_batchnorm() -> None:
    torch.manual_seed(4)
    head = EmbeddingHead(16, 8)
    x = torch.randn(10, 16)
    out = head.train()(x)
    assert out.shape == (10, 8)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(10))
    head.eval()
    projected = x @ head.projection.weight.T
    bn = head.norm
    normed = (projected - bn.running_mean) / (bn.running_var + bn.eps).sqrt() * bn.weight + bn.bias
    torch.testing.assert_close(head(x), F.normalize(normed, dim=1))
    assert EmbeddingHead(16).embedding_dim == 512


def test_embedding_head_gradients() -> None:
    head = EmbeddingHead(16, 8, dropout=0.1)
    x = torch.randn(4, 16, requires_grad=True)
    (head(x) * torch.randn(4, 8)).sum().backward()
    assert x.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())
