"""Detection metrics against pycocotools' COCOeval run directly on the same boxes."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from component_library.metrics.detection import DetectionMAP, detection_metrics

NUM_CLASSES = 4  # class 3 has ground truth but is never predicted


def fixture_batches() -> list[tuple[list[dict], list[dict]]]:
    """Two batches of (preds, targets): 6 images, jittered and spurious predictions.

    Image 2 has no ground truth (its predictions are all false positives); images 1
    and 4 hold crowd boxes; nothing predicts class 3.
    """
    rng = np.random.default_rng(0)
    images = []
    for index in range(6):
        count = 0 if index == 2 else int(rng.integers(1, 6))
        xy = rng.uniform(0, 80, (count, 2))
        wh = rng.uniform(4, 60, (count, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1)
        labels = (np.arange(count) + index) % NUM_CLASSES
        crowd = np.zeros(count, dtype=np.int64)
        if index in (1, 4):
            crowd[0] = 1
        predicted = boxes + rng.normal(0, 4, boxes.shape)  # some match at 0.75, some at 0.5
        predicted_labels = np.where(rng.uniform(size=count) < 0.8, labels, (labels + 1) % 3)
        spurious = rng.uniform(0, 60, (3, 2))
        predicted = np.concatenate([predicted, np.concatenate([spurious, spurious + 30], 1)])
        predicted_labels = np.concatenate([predicted_labels, rng.integers(0, 3, 3)])
        predicted_labels[predicted_labels == 3] = 0
        pred = {
            "boxes": torch.tensor(predicted, dtype=torch.float32),
            "scores": torch.tensor(rng.uniform(0.05, 1, len(predicted)), dtype=torch.float32),
            "labels": torch.tensor(predicted_labels),
        }
        target = {
            "boxes": torch.tensor(boxes, dtype=torch.float32),
            "labels": torch.tensor(labels),
            "iscrowd": torch.tensor(crowd),
            "image_id": torch.tensor(index),  # extra keys are ignored
        }
        images.append((pred, target))
    assert 3 in torch.cat([t["labels"] for _, t in images]).tolist()
    return [
        ([p for p, _ in images[:3]], [t for _, t in images[:3]]),
        ([p for p, _ in images[3:]], [t for _, t in images[3:]]),
    ]


def pycocotools_reference(batches) -> dict[str, float | list[float]]:
    """COCOeval on the fixture written as COCO JSON (xywh boxes) by hand."""
    images, annotations, detections = [], [], []
    image_id = 0
    for preds, targets in batches:
        for pred, target in zip(preds, targets, strict=True):
            image_id += 1
            images.append({"id": image_id, "width": 200, "height": 200})
            for box, label, crowd in zip(
                target["boxes"].tolist(),
                target["labels"].tolist(),
                target["iscrowd"].tolist(),
                strict=True,
            ):
                w, h = box[2] - box[0], box[3] - box[1]
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": label,
                        "bbox": [box[0], box[1], w, h],
                        "area": w * h,
                        "iscrowd": crowd,
                    }
                )
            for box, score, label in zip(
                pred["boxes"].tolist(),
                pred["scores"].tolist(),
                pred["labels"].tolist(),
                strict=True,
            ):
                detections.append(
                    {
                        "image_id": image_id,
                        "category_id": label,
                        "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                        "score": score,
                    }
                )
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth = COCO()
        ground_truth.dataset = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": k} for k in range(NUM_CLASSES)],
        }
        ground_truth.createIndex()
        evaluation = COCOeval(ground_truth, ground_truth.loadRes(detections), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    precision = evaluation.eval["precision"][:, :, :, 0, -1]  # (IoU, recall, class), all areas
    per_class = [
        float(p[p > -1].mean()) if (p > -1).any() else -1.0 for p in np.moveaxis(precision, 2, 0)
    ]
    stats = evaluation.stats
    return {
        "map": stats[0], "map_50": stats[1], "map_75": stats[2], "mar_100": stats[8],
        "ap_per_class": per_class,
    }  # fmt: skip


def test_matches_pycocotools_cocoeval() -> None:
    batches = fixture_batches()
    metrics = detection_metrics(NUM_CLASSES)
    for preds, targets in batches:
        metrics.update(preds, targets)
    result = metrics.compute()
    expected = pycocotools_reference(batches)
    assert set(result) == set(expected)
    assert 0.05 < expected["map"] < expected["map_50"] < 0.95  # the fixture is not trivial
    assert expected["ap_per_class"][3] == 0  # ground truth, no predictions
    for key in ("map", "map_50", "map_75", "mar_100"):
        assert result[key].item() == pytest.approx(expected[key], abs=1e-6), key
    assert result["ap_per_class"].shape == (NUM_CLASSES,)
    assert result["ap_per_class"].tolist() == pytest.approx(expected["ap_per_class"], abs=1e-6)


def test_perfect_predictions_score_one_and_absent_classes_minus_one() -> None:
    metric = DetectionMAP(num_classes=3)
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 40.0, 50.0]])
    labels = torch.tensor([0, 2])
    metric.update(
        [{"boxes": boxes, "scores": torch.tensor([0.9, 0.8]), "labels": labels}],
        [{"boxes": boxes, "labels": labels}],
    )
    result = metric.compute()
    assert result["map"].item() == pytest.approx(1.0)
    assert result["ap_per_class"].tolist() == pytest.approx([1.0, -1.0, 1.0])


def test_a_match_at_iou_exactly_0_55_counts_at_that_threshold() -> None:
    """IoU 11 / 20 is COCO's threshold 0.55 to the last bit (float64, as COCOeval's), so the
    detection matches at 0.50 and 0.55 only: mAP 2 / 10. A float32 threshold (0.5500000119)
    would miss it."""
    target = {"boxes": torch.tensor([[0.0, 0.0, 20.0, 1.0]]), "labels": torch.tensor([0])}
    pred = {**target, "boxes": torch.tensor([[0.0, 0.0, 11.0, 1.0]]), "scores": torch.tensor([0.9])}
    metric = DetectionMAP(num_classes=1)
    metric.update([pred], [target])
    expected = pycocotools_reference([([pred], [{**target, "iscrowd": torch.tensor([0])}])])
    assert expected["map"] == pytest.approx(0.2)
    assert metric.compute()["map"].item() == pytest.approx(0.2)


def test_one_class_and_labels_beyond_num_classes_left_out_of_ap_per_class() -> None:
    metrics = detection_metrics(1)
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 40.0, 50.0]])
    labels = torch.tensor([0, 1])
    metrics.update(
        [{"boxes": boxes, "scores": torch.tensor([0.9, 0.8]), "labels": labels}],
        [{"boxes": boxes, "labels": labels}],
    )
    # torchmetrics squeezes a one-element result to a scalar.
    assert metrics.compute()["ap_per_class"].reshape(-1).tolist() == pytest.approx([1.0])


def test_bad_num_classes_names_the_problem() -> None:
    with pytest.raises(ValueError, match="num_classes must be >= 1"):
        detection_metrics(0)
