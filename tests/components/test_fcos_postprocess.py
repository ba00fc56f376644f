"""fcos_postprocess: hand-made outputs, numpy input, and torchvision's FCOS post-processing."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torchvision.models.detection._utils import BoxLinearCoder
from torchvision.models.detection.fcos import FCOS

from component_library.heads.fcos_postprocess import fcos_postprocess

STRIDES = [8, 16]
SIZES = [(4, 4), (2, 2)]  # a 32 x 32 input


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def blank(num_classes: int = 2, batch: int = 1):
    """Outputs where nothing scores above 0.05: class and centerness probabilities 1e-3."""
    return (
        [torch.full((batch, num_classes, h, w), logit(1e-3)) for h, w in SIZES],
        [torch.full((batch, 4, h, w), 4.0) for h, w in SIZES],
        [torch.full((batch, 1, h, w), logit(1e-3)) for h, w in SIZES],
    )


def test_one_confident_point_gives_one_decoded_box() -> None:
    cls, box, ctr = blank()
    # Level 1 (stride 16), row 1, column 0: the point (8, 24). Class 1 at 0.9, centerness 0.4.
    cls[1][0, 1, 1, 0] = logit(0.9)
    ctr[1][0, 0, 1, 0] = logit(0.4)
    box[1][0, :, 1, 0] = torch.tensor([3.0, 5.0, 7.0, 2.0])
    (result,) = fcos_postprocess(cls, box, ctr, STRIDES)
    torch.testing.assert_close(result["boxes"], torch.tensor([[5.0, 19.0, 15.0, 26.0]]))
    torch.testing.assert_close(result["scores"], torch.tensor([0.6]))  # sqrt(0.9 * 0.4)
    assert result["labels"].tolist() == [1]
    assert result["labels"].dtype == torch.long


def test_nothing_above_the_threshold_gives_empty_results() -> None:
    results = fcos_postprocess(*blank(batch=2), STRIDES)
    assert len(results) == 2
    for result in results:
        assert result["boxes"].shape == (0, 4)
        assert result["scores"].shape == result["labels"].shape == (0,)


def test_nms_is_per_class_and_max_detections_keeps_the_best() -> None:
    cls, box, ctr = blank()
    ctr[0][:] = logit(0.99)
    # Points (4, 4) and (12, 4) predict the same box.
    box[0][0, :, 0, 0] = torch.tensor([4.0, 4.0, 12.0, 12.0])  # [0, 0, 16, 16]
    box[0][0, :, 0, 1] = torch.tensor([12.0, 4.0, 4.0, 12.0])  # [0, 0, 16, 16] too
    cls[0][0, 0, 0, 0] = logit(0.9)
    cls[0][0, 0, 0, 1] = logit(0.8)  # same class, same box: suppressed
    cls[0][0, 1, 0, 1] = logit(0.7)  # another class: kept
    (result,) = fcos_postprocess(cls, box, ctr, STRIDES)
    assert result["labels"].tolist() == [0, 1]
    torch.testing.assert_close(result["boxes"], torch.tensor([[0.0, 0, 16, 16]] * 2))
    expected = torch.sqrt(torch.tensor([0.9, 0.7]) * 0.99)
    torch.testing.assert_close(result["scores"], expected)
    (best,) = fcos_postprocess(cls, box, ctr, STRIDES, max_detections=1)
    assert best["labels"].tolist() == [0]
    (kept,) = fcos_postprocess(cls, box, ctr, STRIDES, nms_threshold=1.0)
    assert kept["labels"].tolist() == [0, 0, 1]


def test_topk_is_per_level_and_boxes_are_clipped() -> None:
    cls, box, ctr = blank(num_classes=1)
    cls[0][:] = logit(0.9)  # 16 points on level 0
    cls[1][:] = logit(0.8)  # 4 points on level 1
    ctr[0][:], ctr[1][:] = logit(0.9), logit(0.8)
    box[0][:] = 2.0  # small disjoint boxes: none suppressed
    box[1][:] = 30.0
    (result,) = fcos_postprocess(cls, box, ctr, STRIDES, topk=3, image_size=(32, 20))
    assert len(result["scores"]) == 3 + 1  # the 4 large boxes overlap: NMS keeps one
    assert (result["boxes"][:, 2] <= 20).all() and (result["boxes"][:, 3] <= 32).all()
    assert (result["boxes"] >= 0).all()


def test_numpy_arrays_give_the_same_detections() -> None:
    generator = torch.Generator().manual_seed(0)
    cls = [torch.randn(2, 3, h, w, generator=generator) for h, w in SIZES]
    box = [torch.rand(2, 4, h, w, generator=generator) * 20 for h, w in SIZES]
    ctr = [torch.randn(2, 1, h, w, generator=generator) for h, w in SIZES]
    expected = fcos_postprocess(cls, box, ctr, STRIDES)
    arrays = [[x.numpy() for x in maps] for maps in (cls, box, ctr)]
    assert isinstance(arrays[0][0], np.ndarray)
    for ours, theirs in zip(fcos_postprocess(*arrays, STRIDES), expected, strict=True):
        assert len(theirs["scores"]) > 5
        for key in ("boxes", "scores", "labels"):
            torch.testing.assert_close(ours[key], theirs[key])


@pytest.mark.parametrize("score_threshold", [0.05, 0.3])
def test_matches_torchvision_fcos_postprocessing(score_threshold: float) -> None:
    """torchvision's FCOS, with anchors of size = stride centred on our points."""
    generator = torch.Generator().manual_seed(1)
    sizes, strides, num_classes = [(8, 8), (4, 4), (2, 2)], [8, 16, 32], 5
    cls = [torch.randn(2, num_classes, h, w, generator=generator) - 1 for h, w in sizes]
    box = [torch.rand(2, 4, h, w, generator=generator) * 24 for h, w in sizes]
    ctr = [torch.randn(2, 1, h, w, generator=generator) for h, w in sizes]
    ours = fcos_postprocess(
        cls, box, ctr, strides, image_size=(64, 64), score_threshold=score_threshold, topk=50
    )

    def flat(x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).transpose(1, 2)

    anchors = []
    for (h, w), s in zip(sizes, strides, strict=True):
        ys, xs = torch.meshgrid(
            (torch.arange(h) + 0.5) * s, (torch.arange(w) + 0.5) * s, indexing="ij"
        )
        centres = torch.stack([xs.flatten(), ys.flatten()], dim=1)
        anchors.append(torch.cat([centres - s / 2, centres + s / 2], dim=1))
    reference = SimpleNamespace(
        score_thresh=score_threshold,
        topk_candidates=50,
        nms_thresh=0.6,
        detections_per_img=100,
        box_coder=BoxLinearCoder(normalize_by_size=True),
    )
    theirs = FCOS.postprocess_detections(
        reference,
        {
            "cls_logits": [flat(x) for x in cls],
            "bbox_regression": [flat(x) / s for x, s in zip(box, strides, strict=True)],
            "bbox_ctrness": [flat(x) for x in ctr],
        },
        [anchors, anchors],
        [(64, 64), (64, 64)],
    )
    for mine, reference_result in zip(ours, theirs, strict=True):
        assert len(reference_result["scores"]) > 10
        for key in ("boxes", "scores", "labels"):
            torch.testing.assert_close(mine[key], reference_result[key])
