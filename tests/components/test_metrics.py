"""Metrics: every catalogue factory runs, and values match numpy reference computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor
from torchmetrics import MetricCollection

from component_library.metrics.classification import classification_metrics
from component_library.metrics.multilabel import multilabel_metrics
from component_library.metrics.segmentation import segmentation_metrics

from .catalogue import entries, load

K = 4
PER_CLASS_KEYS = {"iou_per_class", "auroc_per_class"}


def make_batch(task: str, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """(preds, target) for ``task``, with every class present in the target."""
    if task == "classification":
        return torch.randn(8, K, generator=generator), torch.arange(8) % K
    if task == "segmentation":
        target = torch.arange(2 * 8 * 8).reshape(2, 8, 8) % K
        target[0, 0] = 255
        return torch.randn(2, K, 8, 8, generator=generator), target
    target = torch.randint(0, 2, (8, K), generator=generator)
    target[0], target[1] = 1, 0
    return torch.randn(8, K, generator=generator), target


@pytest.mark.parametrize("name", list(entries("metrics")))
def test_factory_builds_a_collection_that_computes(name: str) -> None:
    task = entries("metrics")[name]["tasks"][0]
    metrics = load("metrics", name)(K)
    assert isinstance(metrics, MetricCollection)
    generator = torch.Generator().manual_seed(0)
    for _ in range(2):
        metrics.update(*make_batch(task, generator))
    values = metrics.compute()
    assert values
    for key, value in values.items():
        assert value.shape == ((K,) if key in PER_CLASS_KEYS else ()), key
        assert torch.isfinite(value).all(), key


# --- numpy references --------------------------------------------------------------------------


def ref_macro_f1(pred: np.ndarray, target: np.ndarray, num_classes: int) -> float:
    """Mean over classes seen in pred or target of 2tp / (2tp + fp + fn)."""
    scores = []
    for c in range(num_classes):
        tp = np.sum((pred == c) & (target == c))
        fp = np.sum((pred == c) & (target != c))
        fn = np.sum((pred != c) & (target == c))
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def ref_iou(pred: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    """IoU per class, NaN for a class absent from both."""
    ious = []
    for c in range(num_classes):
        inter = np.sum((pred == c) & (target == c))
        union = np.sum((pred == c) | (target == c))
        ious.append(inter / union if union else np.nan)
    return np.array(ious)


def ref_auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a positive outscores a negative (ties count half)."""
    pos, neg = score[positive], score[~positive]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def ref_average_precision(score: np.ndarray, positive: np.ndarray) -> float:
    """Mean, over the positives, of the precision at their rank (distinct scores)."""
    hits = positive[np.argsort(-score)]
    precision_at_rank = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision_at_rank[hits].mean())


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# --- classification ----------------------------------------------------------------------------


def test_classification_matches_reference() -> None:
    generator = torch.Generator().manual_seed(1)
    batches = [
        (3 * torch.randn(10, 5, generator=generator), torch.arange(10) % 5) for _ in range(2)
    ]
    metrics = classification_metrics(5, top_k=2)
    for preds, target in batches:
        metrics.update(preds, target)
    values = metrics.compute()

    logits = torch.cat([p for p, _ in batches]).numpy()
    target = torch.cat([t for _, t in batches]).numpy()
    pred = logits.argmax(axis=1)
    in_top2 = (np.argsort(-logits, axis=1)[:, :2] == target[:, None]).any(axis=1)
    probs = softmax(logits)
    auroc = np.mean([ref_auroc(probs[:, c], target == c) for c in range(5)])
    assert values["accuracy"].item() == pytest.approx(np.mean(pred == target))
    assert values["top_k_accuracy"].item() == pytest.approx(np.mean(in_top2))
    assert values["f1"].item() == pytest.approx(ref_macro_f1(pred, target, 5), rel=1e-5)
    assert values["auroc"].item() == pytest.approx(auroc, rel=1e-5)


def test_classification_accuracy_on_hand_built_input() -> None:
    preds = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.5, 0.1, 0.4], [0.2, 0.3, 0.5]])
    target = torch.tensor([0, 1, 2, 2])
    metrics = classification_metrics(3)
    metrics.update(preds, target)
    values = metrics.compute()
    assert values["accuracy"].item() == pytest.approx(0.75)
    # f1 per class: 0 -> 2/3, 1 -> 1, 2 -> 2/3
    assert values["f1"].item() == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)
    assert "top_k_accuracy" not in values  # top-3 of 3 classes is always right


@pytest.mark.parametrize(("num_classes", "top_k"), [(1, 3), (4, 0)])
def test_classification_bad_arguments_are_value_errors(num_classes: int, top_k: int) -> None:
    with pytest.raises(ValueError, match="classification_metrics"):
        classification_metrics(num_classes, top_k=top_k)


# --- segmentation ------------------------------------------------------------------------------


def test_segmentation_matches_reference_and_skips_ignored_pixels() -> None:
    num_classes = 3
    generator = torch.Generator().manual_seed(2)
    logits = torch.randn(2, num_classes, 6, 6, generator=generator)
    target = torch.randint(0, num_classes, (2, 6, 6), generator=generator)
    target[0, :3] = 255

    metrics = segmentation_metrics(num_classes)
    metrics.update(logits, target)
    values = metrics.compute()

    keep = target.numpy() != 255
    pred, truth = logits.argmax(1).numpy()[keep], target.numpy()[keep]
    ious = ref_iou(pred, truth, num_classes)
    assert values["miou"].item() == pytest.approx(np.nanmean(ious), rel=1e-5)
    np.testing.assert_allclose(values["iou_per_class"].numpy(), ious, rtol=1e-5)
    assert values["dice"].item() == pytest.approx(ref_macro_f1(pred, truth, num_classes), rel=1e-5)

    # Whatever is predicted on ignored pixels does not count.
    flipped = logits.clone()
    flipped[0, :, :3] = -flipped[0, :, :3]
    again = segmentation_metrics(num_classes)
    again.update(flipped, target)
    for key, value in again.compute().items():
        torch.testing.assert_close(value, values[key])


def test_segmentation_miou_skips_classes_absent_from_preds_and_target() -> None:
    target = torch.tensor([[[0, 0], [1, 255]]])
    logits = torch.nn.functional.one_hot(torch.tensor([[[0, 1], [1, 0]]]), 3).movedim(-1, 1)
    metrics = segmentation_metrics(3)
    metrics.update(logits.float(), target)
    values = metrics.compute()
    # class 0: inter 1, union 2; class 1: inter 1, union 2; class 2 absent.
    assert values["miou"].item() == pytest.approx(0.5)
    torch.testing.assert_close(values["iou_per_class"], torch.tensor([0.5, 0.5, 0.0]))
    assert values["dice"].item() == pytest.approx(2 / 3)


# --- multilabel --------------------------------------------------------------------------------


def test_multilabel_matches_reference() -> None:
    generator = torch.Generator().manual_seed(3)
    logits = 3 * torch.randn(12, K, generator=generator)
    target = torch.randint(0, 2, (12, K), generator=generator)
    target[0], target[1] = 1, 0

    metrics = multilabel_metrics(K, threshold=0.6)
    metrics.update(logits[:6], target[:6])
    metrics.update(logits[6:], target[6:])
    values = metrics.compute()

    probs = torch.sigmoid(logits).numpy()
    positive = target.numpy().astype(bool)
    ap = [ref_average_precision(probs[:, k], positive[:, k]) for k in range(K)]
    auroc = [ref_auroc(probs[:, k], positive[:, k]) for k in range(K)]
    predicted = probs > 0.6
    tp = (predicted & positive).sum(0)
    f1 = 2 * tp / (2 * tp + (predicted & ~positive).sum(0) + (~predicted & positive).sum(0))
    assert values["map"].item() == pytest.approx(np.mean(ap), rel=1e-5)
    assert values["f1"].item() == pytest.approx(np.mean(f1), rel=1e-5)
    np.testing.assert_allclose(values["auroc_per_class"].numpy(), auroc, rtol=1e-5)


def test_multilabel_bad_threshold_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="threshold"):
        multilabel_metrics(K, threshold=1.5)
