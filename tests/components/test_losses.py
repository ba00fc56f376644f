"""Losses: generic properties over the catalogue, then values against references."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import sigmoid_focal_loss

from component_library.losses.asymmetric import AsymmetricLoss
from component_library.losses.bce import BCEWithLogitsLoss
from component_library.losses.cross_entropy import CrossEntropyLoss
from component_library.losses.dice import DiceLoss
from component_library.losses.focal import FocalLoss
from component_library.losses.focal_bce import SigmoidFocalLoss
from component_library.losses.jaccard import JaccardLoss
from component_library.losses.label_smoothing import LabelSmoothingCrossEntropy
from component_library.losses.lovasz import LovaszSoftmaxLoss
from component_library.losses.weighted_sum import WeightedSum

from .catalogue import entries, load

K = 4
# Detection losses take per-level maps and box targets (tests/components/test_fcos_loss.py);
# embedding losses take embeddings (test_multi_similarity.py, test_nt_xent.py).
CASES = [
    (name, task)
    for name, entry in entries("losses").items()
    for task in entry["tasks"]
    if task != "detection" and entry.get("input", "logits") == "logits"
]


def make_target(task: str, generator: torch.Generator) -> Tensor:
    """A target for ``task``: (B,) class indices, (B, H, W) class indices or (B, K) 0/1."""
    if task == "classification":
        return torch.arange(6) % K
    if task == "segmentation":
        return torch.randint(0, K, (2, 8, 8), generator=generator)
    return torch.randint(0, 2, (6, K), generator=generator)


def confident_logits(task: str, target: Tensor, scale: float = 6.0) -> Tensor:
    """Logits that put (almost) all probability on ``target``."""
    if task == "multilabel":
        return scale * (2 * target.float() - 1)
    one_hot = F.one_hot(target, K).float()
    return scale * one_hot.movedim(-1, 1)


def wrong_target(task: str, target: Tensor) -> Tensor:
    return 1 - target if task == "multilabel" else (target + 1) % K


@pytest.mark.parametrize(("name", "task"), CASES)
def test_scalar_finite_with_gradient(name: str, task: str) -> None:
    generator = torch.Generator().manual_seed(0)
    target = make_target(task, generator)
    shape = (*target.shape[:1], K, *target.shape[1:]) if task != "multilabel" else target.shape
    logits = torch.randn(shape, generator=generator, requires_grad=True)
    loss = load("losses", name)()(logits, target)
    assert loss.shape == ()
    assert torch.isfinite(loss)
    loss.backward()
    assert logits.grad is not None
    assert torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0


@pytest.mark.parametrize(("name", "task"), CASES)
def test_perfect_prediction_beats_wrong_one(name: str, task: str) -> None:
    target = make_target(task, torch.Generator().manual_seed(1))
    loss_fn = load("losses", name)()
    perfect = loss_fn(confident_logits(task, target), target)
    wrong = loss_fn(confident_logits(task, wrong_target(task, target)), target)
    assert perfect < wrong


@pytest.mark.parametrize(("name", "task"), CASES)
def test_saturated_logits_keep_finite_gradient(name: str, task: str) -> None:
    target = make_target(task, torch.Generator().manual_seed(2))
    logits = confident_logits(task, target, scale=100.0).requires_grad_()
    load("losses", name)()(logits, target).backward()
    assert torch.isfinite(logits.grad).all()


# --- every loss at its DEFAULT parameters (what generated configs use), by formula -------------


def _softmax_terms(logits: Tensor, target: Tensor, ignore: int) -> tuple[Tensor, Tensor]:
    """Per kept sample/pixel: log-probabilities ``(N, K)`` and class ``(N,)``."""
    log_p = logits.log_softmax(1).movedim(1, -1).reshape(-1, logits.shape[1])
    labels = target.reshape(-1)
    keep = labels != ignore
    return log_p[keep], labels[keep]


def ref_cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    log_p, labels = _softmax_terms(logits, target, -100)
    return -log_p[torch.arange(len(labels)), labels].mean()


def ref_label_smoothing(logits: Tensor, target: Tensor) -> Tensor:
    log_p, labels = _softmax_terms(logits, target, -100)
    nll = -log_p[torch.arange(len(labels)), labels]
    return (0.9 * nll + 0.1 * (-log_p).mean(1)).mean()


def ref_focal(logits: Tensor, target: Tensor) -> Tensor:
    log_p, labels = _softmax_terms(logits, target, -100)
    log_p_t = log_p[torch.arange(len(labels)), labels]
    return (-((1 - log_p_t.exp()) ** 2) * log_p_t).mean()


def _overlap_losses(logits: Tensor, target: Tensor, score) -> Tensor:
    """Mean over present classes of 1 - score(inter, sum p, sum y), pixels 255 left out."""
    log_p, labels = _softmax_terms(logits, target, 255)
    probs, losses = log_p.exp(), []
    for c in range(logits.shape[1]):
        y = (labels == c).float()
        if y.sum() > 0:
            losses.append(1 - score((probs[:, c] * y).sum(), probs[:, c].sum(), y.sum()))
    return torch.stack(losses).mean()


def ref_dice(logits: Tensor, target: Tensor) -> Tensor:
    return _overlap_losses(logits, target, lambda i, p, y: (2 * i + 1) / (p + y + 1))


def ref_jaccard(logits: Tensor, target: Tensor) -> Tensor:
    return _overlap_losses(logits, target, lambda i, p, y: (i + 1) / (p + y - i + 1))


def ref_lovasz(logits: Tensor, target: Tensor) -> Tensor:
    log_p, labels = _softmax_terms(logits, target, 255)
    return _lovasz_reference(log_p.exp(), labels, present_only=True)


def ref_bce(logits: Tensor, target: Tensor) -> Tensor:
    p, y = torch.sigmoid(logits), target.float()
    return -(y * p.log() + (1 - y) * (1 - p).log()).mean()


def ref_asymmetric(logits: Tensor, target: Tensor) -> Tensor:
    p, y = torch.sigmoid(logits), target.float()
    p_m = (p - 0.05).clamp(min=0)
    return -(y * (1 - p) * p.log() + (1 - y) * p_m**4 * (1 - p_m).log()).mean()


def ref_focal_bce(logits: Tensor, target: Tensor) -> Tensor:
    p, y = torch.sigmoid(logits), target.float()
    p_t, alpha_t = y * p + (1 - y) * (1 - p), y * 0.25 + (1 - y) * 0.75
    return (-alpha_t * (1 - p_t) ** 2 * p_t.log()).mean()


# name -> (the target value the default ignores, or None, reference at the defaults)
DEFAULT_REFERENCES = {
    "cross_entropy": (-100, ref_cross_entropy),
    "label_smoothing": (-100, ref_label_smoothing),
    "focal": (-100, ref_focal),
    "dice": (255, ref_dice),
    "jaccard": (255, ref_jaccard),
    "lovasz": (255, ref_lovasz),
    "bce": (None, ref_bce),
    "asymmetric": (None, ref_asymmetric),
    "focal_bce": (None, ref_focal_bce),
}


@pytest.mark.parametrize(("name", "task"), CASES)
def test_defaults_match_reference(name: str, task: str) -> None:
    ignore, reference = DEFAULT_REFERENCES[name]
    generator = torch.Generator().manual_seed(5)
    target = make_target(task, generator)
    shape = (*target.shape[:1], K, *target.shape[1:]) if task != "multilabel" else target.shape
    logits = 3 * torch.randn(shape, generator=generator)
    if ignore is not None:
        target = target.clone()
        target.view(-1)[:3] = ignore
    if task == "segmentation":
        target[target == K - 1] = 0  # one class absent: present-only averages skip it
    expected = reference(logits, target)
    torch.testing.assert_close(load("losses", name)()(logits, target), expected)


# --- argument bounds, integer-valued weights, edge counts ---------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: CrossEntropyLoss(label_smoothing=0.0),
        lambda: CrossEntropyLoss(label_smoothing=1.0),
        lambda: DiceLoss(smooth=0.0),
        lambda: JaccardLoss(smooth=0.0),
        lambda: FocalLoss(gamma=0.0),
        lambda: SigmoidFocalLoss(alpha=0.0, gamma=0.0),
        lambda: SigmoidFocalLoss(alpha=1.0, gamma=0.5),
        lambda: AsymmetricLoss(gamma_neg=0.0, gamma_pos=0.0, clip=0.0),
    ],
)
def test_boundary_arguments_are_accepted(make) -> None:
    assert isinstance(make(), torch.nn.Module)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: CrossEntropyLoss(label_smoothing=-0.1), "CrossEntropyLoss: label smoothing"),
        (lambda: DiceLoss(smooth=-1.0), "DiceLoss: smooth must be >= 0, got -1.0"),
        (lambda: JaccardLoss(smooth=-1.0), "JaccardLoss: smooth must be >= 0, got -1.0"),
        (lambda: FocalLoss(gamma=-1.0), "FocalLoss: gamma must be >= 0, got -1.0"),
        (lambda: SigmoidFocalLoss(alpha=-0.1), "SigmoidFocalLoss: alpha must be in"),
        (lambda: SigmoidFocalLoss(alpha=1.5), "SigmoidFocalLoss: alpha must be in"),
        (lambda: SigmoidFocalLoss(gamma=-0.1), "SigmoidFocalLoss: gamma must be >= 0"),
        (lambda: AsymmetricLoss(gamma_neg=-1.0), "AsymmetricLoss: gammas must be >= 0"),
        (lambda: AsymmetricLoss(gamma_pos=-1.0), "AsymmetricLoss: gammas must be >= 0"),
        (lambda: AsymmetricLoss(clip=1.0), r"AsymmetricLoss: clip must be in \[0, 1\)"),
        (lambda: AsymmetricLoss(clip=1.5), r"AsymmetricLoss: clip must be in \[0, 1\)"),
        (lambda: AsymmetricLoss(clip=-0.1), r"AsymmetricLoss: clip must be in \[0, 1\)"),
    ],
)
def test_bad_arguments_are_value_errors_naming_the_loss(make, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}"):
        make()


def test_integer_weights_from_a_config_work_as_floats() -> None:
    """YAML gives ``[1, 2, 1, 1]`` as ints; the losses must weight as with floats."""
    logits = torch.randn(6, K)
    target = torch.tensor([0, 1, 2, 3, 1, 2])
    weights = [1, 2, 1, 3]
    floats = [float(w) for w in weights]
    pairs = [
        (CrossEntropyLoss(weight=weights), CrossEntropyLoss(weight=floats)),
        (LabelSmoothingCrossEntropy(weight=weights), LabelSmoothingCrossEntropy(weight=floats)),
        (FocalLoss(alpha=weights), FocalLoss(alpha=floats)),
        (FocalLoss(alpha=2), FocalLoss(alpha=2.0)),
    ]
    for ints, reference in pairs:
        torch.testing.assert_close(ints(logits, target), reference(logits, target))
    multilabel = torch.randint(0, 2, (6, K))
    torch.testing.assert_close(
        BCEWithLogitsLoss(pos_weight=weights)(logits, multilabel),
        BCEWithLogitsLoss(pos_weight=floats)(logits, multilabel),
    )


def test_label_smoothing_weights_classes() -> None:
    logits = torch.randn(6, K)
    target = torch.tensor([0, 1, 2, 3, 1, 2])
    weight = [1.0, 3.0, 0.5, 2.0]
    expected = F.cross_entropy(logits, target, weight=torch.tensor(weight), label_smoothing=0.1)
    torch.testing.assert_close(LabelSmoothingCrossEntropy(weight=weight)(logits, target), expected)


def test_focal_with_one_valid_target_is_that_term() -> None:
    logits = torch.randn(3, K)
    target = torch.tensor([-100, 2, -100])
    p = logits.softmax(1)[1, 2]
    expected = -((1 - p) ** 2) * torch.log(p)
    torch.testing.assert_close(FocalLoss()(logits, target), expected)


@pytest.mark.parametrize("loss_cls", [DiceLoss, JaccardLoss, LovaszSoftmaxLoss])
def test_region_losses_with_one_present_class_are_that_class_term(loss_cls) -> None:
    generator = torch.Generator().manual_seed(6)
    logits = torch.randn(1, K, 3, 3, generator=generator)
    target = torch.full((1, 3, 3), 255)
    target[0, 0] = 2  # class 2 alone, on three pixels
    reference = {"DiceLoss": ref_dice, "JaccardLoss": ref_jaccard, "LovaszSoftmaxLoss": ref_lovasz}
    expected = reference[loss_cls.__name__](logits, target)
    torch.testing.assert_close(loss_cls()(logits, target), expected)


def test_lovasz_counts_a_class_with_a_single_pixel() -> None:
    generator = torch.Generator().manual_seed(7)
    logits = torch.randn(1, K, 3, 3, generator=generator)
    target = torch.zeros(1, 3, 3, dtype=torch.long)
    target[0, 1, 1] = 3  # class 3 has exactly one pixel
    torch.testing.assert_close(LovaszSoftmaxLoss()(logits, target), ref_lovasz(logits, target))


def test_asymmetric_discards_negatives_below_the_clip_margin() -> None:
    # p = sigmoid(-10) < clip = 0.05: the shifted probability is 0, so the loss is exactly 0.
    assert AsymmetricLoss()(torch.full((2, K), -10.0), torch.zeros(2, K)).item() == 0.0


def test_asymmetric_accepts_a_bool_target() -> None:
    logits = torch.randn(5, K)
    target = torch.randint(0, 2, (5, K))
    torch.testing.assert_close(
        AsymmetricLoss()(logits, target.bool()), AsymmetricLoss()(logits, target.float())
    )


# --- cross-entropy and label smoothing ---------------------------------------------------------


def test_cross_entropy_matches_torch_for_both_shapes() -> None:
    weight = [1.0, 2.0, 0.5, 1.5]
    logits = torch.randn(6, K)
    target = torch.tensor([0, 1, 2, 3, -100, 1])
    expected = F.cross_entropy(logits, target, weight=torch.tensor(weight))
    torch.testing.assert_close(CrossEntropyLoss(weight=weight)(logits, target), expected)

    logits = torch.randn(2, K, 5, 5)
    target = torch.randint(0, K, (2, 5, 5))
    target[0, :2] = 255
    expected = F.cross_entropy(logits, target, ignore_index=255, label_smoothing=0.2)
    actual = CrossEntropyLoss(ignore_index=255, label_smoothing=0.2)(logits, target)
    torch.testing.assert_close(actual, expected)


def test_label_smoothing_matches_explicit_formula() -> None:
    eps = 0.1
    logits = torch.randn(5, K)
    target = torch.tensor([0, 3, 1, 2, 2])
    log_p = logits.log_softmax(dim=1)
    nll = -log_p[torch.arange(5), target]
    expected = ((1 - eps) * nll + eps * (-log_p).mean(dim=1)).mean()
    torch.testing.assert_close(LabelSmoothingCrossEntropy(smoothing=eps)(logits, target), expected)


def test_label_smoothing_ignores_pixels() -> None:
    logits = torch.randn(1, K, 4, 4)
    target = torch.randint(0, K, (1, 4, 4))
    target[0, 0] = 255
    loss = LabelSmoothingCrossEntropy(smoothing=0.3, ignore_index=255)(logits, target)
    expected = F.cross_entropy(logits, target, ignore_index=255, label_smoothing=0.3)
    torch.testing.assert_close(loss, expected)


def test_label_smoothing_out_of_range_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="LabelSmoothingCrossEntropy"):
        LabelSmoothingCrossEntropy(smoothing=1.5)


@pytest.mark.parametrize(
    ("make", "buffer"),
    [
        (lambda w: CrossEntropyLoss(weight=w), "weight"),
        (lambda w: LabelSmoothingCrossEntropy(weight=w), "weight"),
        (lambda w: FocalLoss(alpha=w), "alpha"),
        (lambda w: BCEWithLogitsLoss(pos_weight=w), "pos_weight"),
    ],
)
def test_class_weights_are_float_buffers_that_follow_the_module(make, buffer: str) -> None:
    for weights in ([1.0, 2.0, 3.0, 4.0], [1, 2, 3, 4]):  # YAML may give ints
        loss_fn = make(weights)
        assert loss_fn.state_dict()[buffer].dtype == torch.float32
        assert getattr(loss_fn.to(torch.float64), buffer).dtype == torch.float64


# --- softmax focal -----------------------------------------------------------------------------


def test_focal_with_gamma_zero_is_cross_entropy() -> None:
    logits = torch.randn(2, K, 6, 6)
    target = torch.randint(0, K, (2, 6, 6))
    target[1, 3:] = 255
    expected = F.cross_entropy(logits, target, ignore_index=255)
    torch.testing.assert_close(FocalLoss(gamma=0.0, ignore_index=255)(logits, target), expected)


def test_focal_matches_explicit_formula() -> None:
    alpha = [0.25, 0.5, 1.0, 2.0]
    logits = torch.randn(6, K)
    target = torch.tensor([0, 1, 2, 3, -100, 2])
    keep = target != -100
    p = logits.softmax(dim=1)[keep, target[keep]]
    terms = -((1 - p) ** 2) * torch.log(p)
    torch.testing.assert_close(FocalLoss(gamma=2.0)(logits, target), terms.mean())
    weighted = torch.tensor(alpha)[target[keep]] * terms
    torch.testing.assert_close(FocalLoss(gamma=2.0, alpha=alpha)(logits, target), weighted.mean())
    torch.testing.assert_close(FocalLoss(alpha=0.25)(logits, target), 0.25 * terms.mean())


def test_focal_with_every_target_ignored_is_zero() -> None:
    logits = torch.randn(1, K, 3, 3, requires_grad=True)
    loss = FocalLoss(ignore_index=255)(logits, torch.full((1, 3, 3), 255))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_focal_with_small_gamma_keeps_finite_gradient_when_saturated() -> None:
    logits = torch.tensor([[100.0, 0.0, 0.0, 0.0], [0.0, 1.0, 2.0, 3.0]], requires_grad=True)
    FocalLoss(gamma=0.5)(logits, torch.tensor([0, 1])).backward()
    assert torch.isfinite(logits.grad).all()


# --- dice, jaccard, lovasz ---------------------------------------------------------------------

# One image of 2x2 pixels, 3 classes; class 2 is absent and the last pixel is ignored.
SEG_LOGITS = torch.tensor(
    [[[[2.0, 0.0], [1.0, -9.0]], [[0.0, 1.0], [0.5, 9.0]], [[-1.0, 0.0], [0.0, 0.0]]]]
)
SEG_TARGET = torch.tensor([[[0, 1], [1, 255]]])


def _per_class_overlap() -> tuple[list[float], list[float], list[float]]:
    """Per class: sum(p * y), sum(p), sum(y) over the three valid pixels, written out."""
    probs = SEG_LOGITS.softmax(dim=1)[0]
    pixels = [(0, 0, 0), (0, 1, 1), (1, 0, 1)]  # (row, col, class)
    inter = [sum(probs[c, i, j].item() for i, j, t in pixels if t == c) for c in range(3)]
    p_sum = [sum(probs[c, i, j].item() for i, j, _ in pixels) for c in range(3)]
    y_sum = [float(sum(t == c for _, _, t in pixels)) for c in range(3)]
    return inter, p_sum, y_sum


@pytest.mark.parametrize("present_only", [True, False])
def test_dice_matches_explicit_formula(present_only: bool) -> None:
    smooth = 1.0
    inter, p_sum, y_sum = _per_class_overlap()
    overlaps = zip(inter, p_sum, y_sum, strict=True)
    losses = [1 - (2 * i + smooth) / (p + y + smooth) for i, p, y in overlaps]
    expected = sum(losses[:2]) / 2 if present_only else sum(losses) / 3
    loss = DiceLoss(smooth=smooth, present_only=present_only)(SEG_LOGITS, SEG_TARGET)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("present_only", [True, False])
def test_jaccard_matches_explicit_formula(present_only: bool) -> None:
    smooth = 0.5
    inter, p_sum, y_sum = _per_class_overlap()
    overlaps = zip(inter, p_sum, y_sum, strict=True)
    losses = [1 - (i + smooth) / (p + y - i + smooth) for i, p, y in overlaps]
    expected = sum(losses[:2]) / 2 if present_only else sum(losses) / 3
    loss = JaccardLoss(smooth=smooth, present_only=present_only)(SEG_LOGITS, SEG_TARGET)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("loss_cls", [DiceLoss, JaccardLoss, LovaszSoftmaxLoss])
def test_region_losses_ignore_pixels(loss_cls: type[torch.nn.Module]) -> None:
    logits = SEG_LOGITS.clone().requires_grad_()
    loss = loss_cls()(logits, SEG_TARGET)
    loss.backward()
    assert torch.equal(logits.grad[0, :, 1, 1], torch.zeros(3))
    other = SEG_LOGITS.clone()
    other[0, :, 1, 1] = torch.tensor([5.0, -5.0, 7.0])
    torch.testing.assert_close(loss_cls()(other, SEG_TARGET), loss)


@pytest.mark.parametrize("loss_cls", [DiceLoss, JaccardLoss, LovaszSoftmaxLoss])
def test_region_losses_without_valid_pixels_are_zero(loss_cls: type[torch.nn.Module]) -> None:
    loss = loss_cls()(SEG_LOGITS, torch.full((1, 2, 2), 255))
    assert loss.item() == 0.0


def _lovasz_reference(probs: Tensor, labels: Tensor, present_only: bool) -> Tensor:
    """Berman et al.'s ``lovasz_softmax_flat``, class by class. probs: (N, K), labels: (N,)."""
    losses = []
    for c in range(probs.shape[1]):
        fg = (labels == c).float()
        if present_only and fg.sum() == 0:
            continue
        errors, perm = torch.sort((fg - probs[:, c]).abs(), descending=True)
        gt_sorted = fg[perm]
        gts = gt_sorted.sum()
        jaccard = 1.0 - (gts - gt_sorted.cumsum(0)) / (gts + (1 - gt_sorted).cumsum(0))
        jaccard[1:] = jaccard[1:] - jaccard[:-1].clone()
        losses.append(torch.dot(errors, jaccard))
    return torch.stack(losses).mean()


@pytest.mark.parametrize("present_only", [True, False])
def test_lovasz_matches_reference(present_only: bool) -> None:
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(2, K, 5, 5, generator=generator)
    target = torch.randint(0, K - 1, (2, 5, 5), generator=generator)  # class K-1 absent
    target[0, 0] = 255
    keep = target.reshape(-1) != 255
    probs = logits.softmax(dim=1).movedim(1, -1).reshape(-1, K)[keep]
    expected = _lovasz_reference(probs, target.reshape(-1)[keep], present_only)
    loss = LovaszSoftmaxLoss(present_only=present_only)(logits, target)
    torch.testing.assert_close(loss, expected)


def test_lovasz_is_zero_for_perfect_and_positive_otherwise() -> None:
    target = torch.randint(0, K, (2, 6, 6), generator=torch.Generator().manual_seed(4))
    perfect = LovaszSoftmaxLoss()(confident_logits("segmentation", target, 100.0), target)
    assert perfect.item() == pytest.approx(0.0, abs=1e-6)
    assert LovaszSoftmaxLoss()(torch.zeros(2, K, 6, 6), target) > 0.1


# --- multilabel --------------------------------------------------------------------------------


def test_bce_matches_torch() -> None:
    logits = torch.randn(5, K)
    target = torch.randint(0, 2, (5, K))
    pos_weight = [1.0, 3.0, 0.5, 2.0]
    expected = F.binary_cross_entropy_with_logits(
        logits, target.float(), pos_weight=torch.tensor(pos_weight)
    )
    torch.testing.assert_close(BCEWithLogitsLoss(pos_weight=pos_weight)(logits, target), expected)


def test_asymmetric_without_focusing_or_clip_is_bce() -> None:
    logits = torch.randn(5, K)
    target = torch.randint(0, 2, (5, K))
    loss = AsymmetricLoss(gamma_neg=0, gamma_pos=0, clip=0)(logits, target)
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(logits, target.float()))


def test_asymmetric_matches_paper_formula() -> None:
    gamma_neg, gamma_pos, clip = 4.0, 1.0, 0.05
    logits = torch.randn(5, K)
    target = torch.randint(0, 2, (5, K))
    total = 0.0
    for x, y in zip(logits.flatten().tolist(), target.flatten().tolist(), strict=True):
        p = 1 / (1 + math.exp(-x))
        p_m = max(p - clip, 0.0)
        if y:
            total += -((1 - p) ** gamma_pos) * math.log(p)
        else:
            total += -(p_m**gamma_neg) * math.log(1 - p_m)
    loss = AsymmetricLoss(gamma_neg=gamma_neg, gamma_pos=gamma_pos, clip=clip)(logits, target)
    assert loss.item() == pytest.approx(total / logits.numel(), rel=1e-5)


@pytest.mark.parametrize(("alpha", "gamma"), [(0.25, 2.0), (None, 2.0), (0.6, 0.5)])
def test_sigmoid_focal_matches_torchvision_and_formula(alpha: float | None, gamma: float) -> None:
    logits = torch.randn(5, K)
    target = torch.randint(0, 2, (5, K))
    loss = SigmoidFocalLoss(alpha=alpha, gamma=gamma)(logits, target)
    tv_alpha = -1 if alpha is None else alpha
    torch.testing.assert_close(
        loss, sigmoid_focal_loss(logits, target.float(), tv_alpha, gamma, reduction="mean")
    )
    p = torch.sigmoid(logits)
    p_t = torch.where(target == 1, p, 1 - p)
    alpha_t = 1.0 if alpha is None else torch.where(target == 1, alpha, 1 - alpha)
    torch.testing.assert_close(loss, (-alpha_t * (1 - p_t) ** gamma * torch.log(p_t)).mean())


# --- weighted sum ------------------------------------------------------------------------------


def test_weighted_sum_adds_weighted_terms_and_reports_each() -> None:
    logits = torch.randn(2, K, 4, 4, requires_grad=True)
    target = torch.randint(0, K, (2, 4, 4))
    ce, dice = CrossEntropyLoss(weight=[1.0, 2.0, 1.0, 1.0]), DiceLoss()
    combined = WeightedSum({"cross_entropy": (ce, 1.0), "dice": (dice, 0.5)})
    assert combined.parts == {}  # nothing to log before the first call
    total = combined(logits, target)
    parts = combined.parts
    assert list(parts) == ["cross_entropy", "dice"]
    torch.testing.assert_close(parts["cross_entropy"], ce(logits, target))
    torch.testing.assert_close(parts["dice"], dice(logits, target))
    torch.testing.assert_close(total, parts["cross_entropy"] + 0.5 * parts["dice"])
    assert total.shape == () and not any(part.requires_grad for part in parts.values())
    total.backward()
    assert logits.grad is not None
    # The terms are submodules, so their buffers move and are saved with the model.
    assert "losses.cross_entropy.weight" in combined.state_dict()


class _TwoParts(torch.nn.Module):
    """A loss that keeps its own parts, as FCOSLoss does: mean and max of the logits."""

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        self.parts = {"mean": logits.mean(), "max": logits.max()}
        return self.parts["mean"] + self.parts["max"]


def test_weighted_sum_reports_the_parts_of_a_term_under_its_name() -> None:
    logits = torch.tensor([[1.0, 2.0], [3.0, 6.0]], requires_grad=True)
    combined = WeightedSum({"inner": (_TwoParts(), 2.0), "ce": (CrossEntropyLoss(), 1.0)})
    total = combined(logits, torch.tensor([0, 1]))
    assert list(combined.parts) == ["inner", "inner/mean", "inner/max", "ce"]
    assert combined.parts["inner/mean"].item() == 3.0 and combined.parts["inner/max"].item() == 6.0
    assert combined.parts["inner"].item() == 9.0
    torch.testing.assert_close(total, 2.0 * 9.0 + combined.parts["ce"])
    assert not any(part.requires_grad for part in combined.parts.values())


def test_weighted_sum_without_terms_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^WeightedSum: terms is empty, give at least one loss$"):
        WeightedSum({})
