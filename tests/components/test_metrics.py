"""Metrics: every catalogue factory runs, and values match numpy reference computations."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MetricCollection

from component_library.metrics.classification import classification_metrics
from component_library.metrics.multilabel import multilabel_metrics
from component_library.metrics.segmentation import segmentation_metrics

from .catalogue import entries, load

K = 4
PER_CLASS_KEYS = {"iou_per_class", "auroc_per_class"}


def make_batch(
    task: str, generator: torch.Generator, perfect: bool = False
) -> tuple[Tensor, Tensor]:
    """(preds, target) for ``task``, with every class present in the target.

    ``perfect``: the preds rank every target first.
    """
    if task == "classification":
        target = torch.arange(8) % K
        preds = torch.randn(8, K, generator=generator)
        return (F.one_hot(target, K).float() if perfect else preds), target
    if task == "segmentation":
        target = torch.arange(2 * 8 * 8).reshape(2, 8, 8) % K
        preds = torch.randn(2, K, 8, 8, generator=generator)
        if perfect:
            preds = F.one_hot(target, K).movedim(-1, 1).float()
        target[0, 0] = 255
        return preds, target
    if task == "multilabel":
        target = torch.randint(0, 2, (8, K), generator=generator)
        target[0], target[1] = 1, 0
        return (target.float() if perfect else torch.randn(8, K, generator=generator)), target
    raise NotImplementedError(f"make_batch: no batches for task {task!r} yet; add them here")


# Detection metrics take per-image box dicts (tests/components/test_detection_metrics.py);
# retrieval metrics embeddings and query/gallery roles (tests/components/test_retrieval_metrics.py);
# self_supervised's kNN accuracy and linear probe: test_knn_accuracy.py, test_linear_probe.py.
@pytest.mark.parametrize(
    "name",
    [
        n
        for n, entry in entries("metrics").items()
        if entry["tasks"] not in (["detection"], ["representation"], ["self_supervised"])
    ],
)
def test_factory_builds_a_collection_that_computes(name: str) -> None:
    task = entries("metrics")[name]["tasks"][0]
    metrics = load("metrics", name)(K)
    assert isinstance(metrics, MetricCollection)
    # Each metric alone, outside the collection: the collection must not change its value
    # (automatic compute groups once did, after a perfect first batch).
    alone = {key: copy.deepcopy(metric) for key, metric in metrics.items()}
    generator = torch.Generator().manual_seed(0)
    batches = [make_batch(task, generator, perfect=True)] + [
        make_batch(task, generator) for _ in range(2)
    ]
    for batch in batches:
        metrics.update(*batch)
        for metric in alone.values():
            metric.update(*batch)
    values = metrics.compute()
    assert values.keys() == alone.keys()
    for key, value in values.items():
        assert value.shape == ((K,) if key in PER_CLASS_KEYS else ()), key
        assert torch.isfinite(value).all(), key
        torch.testing.assert_close(value, alone[key].compute(), msg=key)


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
    """Probability that a positive outscores a negative (ties count half); 0 with no positive."""
    pos, neg = score[positive], score[~positive]
    if not len(pos):
        return 0.0  # torchmetrics: "No positive samples in targets ... Returning zero"
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


def ref_average_precision(score: np.ndarray, positive: np.ndarray) -> float:
    """Sum over distinct thresholds of (recall gain) x precision; 0 with no positive."""
    if not positive.any():
        return 0.0  # torchmetrics: "No positive samples found in target ..." gives 0
    ap, previous_recall = 0.0, 0.0
    for threshold in np.unique(score)[::-1]:
        selected = score >= threshold
        tp = np.sum(selected & positive)
        recall = tp / positive.sum()
        ap += (recall - previous_recall) * tp / selected.sum()
        previous_recall = recall
    return float(ap)


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


@pytest.mark.parametrize("threshold", [0.0, 1.0, 1.5])
def test_multilabel_bad_threshold_is_a_value_error(threshold: float) -> None:
    with pytest.raises(ValueError, match="multilabel_metrics: threshold"):
        multilabel_metrics(K, threshold=threshold)


# --- argument bounds: the smallest valid value works, the next one down is refused -------------

SMALLEST = [
    (classification_metrics, {"num_classes": 2, "top_k": 1}, {"num_classes": 1}),
    (classification_metrics, {"num_classes": 2, "top_k": 1}, {"num_classes": 2, "top_k": 0}),
    (multilabel_metrics, {"num_classes": 2}, {"num_classes": 1}),
    (segmentation_metrics, {"num_classes": 2}, {"num_classes": 1}),
]


@pytest.mark.parametrize(("factory", "smallest", "too_small"), SMALLEST)
def test_smallest_arguments_work_and_below_is_a_value_error(factory, smallest, too_small) -> None:
    assert isinstance(factory(**smallest), MetricCollection)
    name = factory.__name__
    with pytest.raises(
        ValueError, match=rf"^{name}: \w+ must be >= \d, got {min(too_small.values())}$"
    ):
        factory(**too_small)


def test_classification_with_two_classes_reports_top_1_as_top_k() -> None:
    values = classification_metrics(2, top_k=1)
    values.update(torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]), torch.tensor([0, 1, 1]))
    result = values.compute()
    assert result["top_k_accuracy"].item() == result["accuracy"].item() == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("factory", "groups"),
    [
        (multilabel_metrics, [["map", "auroc_per_class"], ["f1"]]),
        (segmentation_metrics, [["miou", "iou_per_class"], ["dice"]]),
    ],
)
def test_metrics_with_the_same_update_share_one_state(factory, groups) -> None:
    """mAP and AUROC keep one copy of the epoch's scores; both IoUs one confusion matrix."""
    collection = factory(K)
    task = "multilabel" if factory is multilabel_metrics else "segmentation"
    collection.update(*make_batch(task, torch.Generator().manual_seed(0)))
    assert sorted(collection.compute_groups.values()) == sorted(groups)
    metrics = dict(collection.items(keep_base=True, copy_state=False))
    first, second = (metrics[name] for name in groups[0])
    for state in first._defaults:
        assert getattr(first, state) is getattr(second, state), state


# --- several batches, a perfect first batch, reset, a class with no positives -----------------
#
# torchmetrics' automatic compute groups once merged top_k_accuracy with F1 after a perfect first
# batch (equal states), so top-k reported top-1 from then on, even after reset(). Each stream
# below starts with a perfect batch; the collection is computed, reset, and fed a second stream,
# and every value is checked against a numpy reference of that stream alone. The generated
# project uses clones (``metrics.clone(prefix="val/")``), so both are checked.

Batch = tuple[Tensor, Tensor]


def run_streams(collection: MetricCollection, streams: list[list[Batch]]) -> list[dict]:
    """compute() after each stream, with a reset() between streams; prefixes stripped."""
    results = []
    for stream in streams:
        for preds, target in stream:
            collection.update(preds, target)
        values = collection.compute()
        results.append({key.removeprefix("val/"): value for key, value in values.items()})
        collection.reset()
    return results


def concat(stream: list[Batch]) -> tuple[np.ndarray, np.ndarray]:
    return torch.cat([p for p, _ in stream]).numpy(), torch.cat([t for _, t in stream]).numpy()


def ranked(target: Tensor, num_classes: int, order: list[int]) -> Tensor:
    """Probabilities where the class ``target + order[i]`` ranks i-th (mod ``num_classes``)."""
    rows = torch.arange(len(target))
    probs = torch.full((len(target), num_classes), 0.0)
    for rank, shift in enumerate(order):
        probs[rows, (target + shift) % num_classes] = 0.5 ** (rank + 1)
    return probs / probs.sum(1, keepdim=True)


def maybe_clone(collection: MetricCollection, clone: bool) -> MetricCollection:
    return collection.clone(prefix="val/") if clone else collection


def ref_classification(probs: np.ndarray, target: np.ndarray, top_k: int) -> dict[str, float]:
    num_classes = probs.shape[1]
    top = np.argsort(-probs, axis=1, kind="stable")
    return {
        "accuracy": float(np.mean(top[:, 0] == target)),
        "top_k_accuracy": float(np.mean((top[:, :top_k] == target[:, None]).any(axis=1))),
        "f1": ref_macro_f1(top[:, 0], target, num_classes),
        "auroc": float(np.mean([ref_auroc(probs[:, c], target == c) for c in range(num_classes)])),
    }


NO_POSITIVES = "ignore:No positive samples"  # torchmetrics' warning for a class without positives


@pytest.mark.filterwarnings(NO_POSITIVES)
@pytest.mark.parametrize("clone", [False, True])
def test_classification_streams_match_reference(clone: bool) -> None:
    num_classes = 5  # default top_k = 3 < 5, so top_k_accuracy is reported
    generator = torch.Generator().manual_seed(4)
    target_a = torch.arange(12) % 4  # class 4 has no positives in stream a
    stream_a = [
        (ranked(target_a, num_classes, [0, 1, 2, 3, 4]), target_a),  # perfect
        (ranked(target_a, num_classes, [1, 0, 2, 3, 4]), target_a),  # true class 2nd
        (ranked(target_a, num_classes, [1, 2, 0, 3, 4]), target_a),  # true class 3rd
        (ranked(target_a, num_classes, [4, 1, 2, 3, 0]), target_a),  # true class last
    ]
    target_b = torch.randint(0, num_classes, (16,), generator=generator)
    target_b[:num_classes] = torch.arange(num_classes)
    stream_b = [
        (ranked(target_b, num_classes, [0, 1, 2, 3, 4]), target_b),  # perfect
        (torch.softmax(3 * torch.randn(16, num_classes, generator=generator), 1), target_b),
    ]
    collection = maybe_clone(classification_metrics(num_classes), clone)
    results = run_streams(collection, [stream_a, stream_b])

    expected_a = ref_classification(*concat(stream_a), top_k=3)
    assert expected_a["top_k_accuracy"] == 0.75  # the hand count: 3 of 4 batches in the top 3
    probs_a, truth_a = concat(stream_a)
    auroc_0_to_3 = np.mean([ref_auroc(probs_a[:, c], truth_a == c) for c in range(4)])
    assert expected_a["auroc"] == pytest.approx(0.8 * auroc_0_to_3)  # class 4 counts as 0
    for result, stream in zip(results, [stream_a, stream_b], strict=True):
        expected = ref_classification(*concat(stream), top_k=3)
        assert set(result) == set(expected)
        for key, value in expected.items():
            assert result[key].item() == pytest.approx(value, rel=1e-5, abs=1e-6), key


def test_classification_top_k_after_a_perfect_first_batch() -> None:
    """The reproduction from the reliability issue: top-3 accuracy is 1.0, not top-1's 0.5."""
    target = torch.arange(20) % 10
    metrics = classification_metrics(10)
    metrics.update(ranked(target, 10, list(range(10))), target)
    metrics.update(ranked(target, 10, [1, 0, *range(2, 10)]), target)
    values = metrics.compute()
    assert values["accuracy"].item() == pytest.approx(0.5)
    assert values["top_k_accuracy"].item() == pytest.approx(1.0)


def ref_segmentation(logits: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray | float]:
    keep = target != 255
    pred, truth = logits.argmax(1)[keep], target[keep]
    num_classes = logits.shape[1]
    ious = ref_iou(pred, truth, num_classes)
    return {
        "miou": float(np.nanmean(ious)),
        "iou_per_class": np.nan_to_num(ious, nan=0.0),
        "dice": ref_macro_f1(pred, truth, num_classes),
    }


@pytest.mark.parametrize("clone", [False, True])
def test_segmentation_streams_match_reference(clone: bool) -> None:
    num_classes = 4
    generator = torch.Generator().manual_seed(5)

    def one_hot(target: Tensor) -> Tensor:
        known = target.clamp(max=num_classes - 1)  # what is predicted on ignored pixels is moot
        return torch.nn.functional.one_hot(known, num_classes).movedim(-1, 1).float()

    # Stream a: class 3 has no positive pixel but is predicted (IoU 0, counted in the mean).
    target_a = torch.randint(0, 3, (2, 6, 6), generator=generator)
    target_a[:, 0] = 255
    stream_a = [
        (one_hot(target_a), target_a),  # perfect
        (torch.randn(2, num_classes, 6, 6, generator=generator), target_a),
        (torch.randn(2, num_classes, 6, 6, generator=generator), target_a),
    ]
    # Stream b: class 0 is neither a target nor predicted (no IoU, left out of the mean).
    target_b = torch.randint(1, num_classes, (2, 6, 6), generator=generator)
    target_b[1, :, :2] = 255
    noisy = torch.randn(2, num_classes, 6, 6, generator=generator)
    noisy[:, 0] = -100.0
    stream_b = [(one_hot(target_b), target_b), (noisy, target_b)]

    collection = maybe_clone(segmentation_metrics(num_classes), clone)
    results = run_streams(collection, [stream_a, stream_b])

    expected_a = ref_segmentation(*concat(stream_a))
    assert expected_a["iou_per_class"][3] == 0.0 and 0 < expected_a["miou"] < 1
    expected_b = ref_segmentation(*concat(stream_b))
    assert expected_b["miou"] == pytest.approx(np.mean(expected_b["iou_per_class"][1:]))
    for result, stream in zip(results, [stream_a, stream_b], strict=True):
        expected = ref_segmentation(*concat(stream))
        assert set(result) == set(expected)
        for key, value in expected.items():
            np.testing.assert_allclose(result[key].numpy(), value, rtol=1e-5, err_msg=key)


def ref_multilabel(probs: np.ndarray, target: np.ndarray, threshold: float) -> dict:
    positive = target.astype(bool)
    labels = range(probs.shape[1])
    predicted = probs > threshold
    tp = (predicted & positive).sum(0)
    denominator = 2 * tp + (predicted & ~positive).sum(0) + (~predicted & positive).sum(0)
    # A label never positive nor predicted scores 0 and counts in the mean (torchmetrics'
    # multilabel F1, unlike its multiclass F1, does not leave it out).
    f1 = np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)
    return {
        "map": float(np.mean([ref_average_precision(probs[:, k], positive[:, k]) for k in labels])),
        "f1": float(np.mean(f1)),
        "auroc_per_class": np.array([ref_auroc(probs[:, k], positive[:, k]) for k in labels]),
    }


@pytest.mark.filterwarnings(NO_POSITIVES)
@pytest.mark.parametrize("clone", [False, True])
def test_multilabel_streams_match_reference(clone: bool) -> None:
    num_classes = 4
    generator = torch.Generator().manual_seed(6)
    # Stream a: label 3 is never positive (AP and AUROC 0, F1 0, all counted in the means).
    target_a = torch.randint(0, 2, (10, num_classes), generator=generator)
    target_a[:, 3] = 0
    target_a[0, :3], target_a[1, :3] = 1, 0
    stream_a = [
        (0.1 + 0.8 * target_a.float(), target_a),  # perfect
        (0.9 - 0.8 * target_a.float(), target_a),  # every label wrong
        (torch.rand(10, num_classes, generator=generator), target_a),
    ]
    target_b = torch.randint(0, 2, (12, num_classes), generator=generator)
    target_b[0], target_b[1] = 1, 0
    stream_b = [
        (0.2 + 0.6 * target_b.float(), target_b),  # perfect
        (torch.rand(12, num_classes, generator=generator), target_b),
    ]
    collection = maybe_clone(multilabel_metrics(num_classes), clone)
    results = run_streams(collection, [stream_a, stream_b])

    expected_a = ref_multilabel(*concat(stream_a), threshold=0.5)
    assert expected_a["auroc_per_class"][3] == 0.0
    for result, stream in zip(results, [stream_a, stream_b], strict=True):
        expected = ref_multilabel(*concat(stream), threshold=0.5)
        assert set(result) == set(expected)
        for key, value in expected.items():
            np.testing.assert_allclose(result[key].numpy(), value, rtol=1e-5, err_msg=key)
