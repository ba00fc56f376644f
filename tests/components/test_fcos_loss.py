"""FCOSLoss: assignment and each term on hand-made cases, then torchvision's FCOS as reference."""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import pytest
import torch
from torchvision.models.detection.fcos import FCOS, FCOSHead

from component_library.losses.fcos_loss import FCOSLoss

LN2 = math.log(2)


def outputs(
    sizes: list[tuple[int, int]], num_classes: int, batch: int = 1, ltrb: float = 0.0
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """Head outputs of zeros (probability 0.5 everywhere) and constant distances."""
    return (
        [torch.zeros(batch, num_classes, h, w, requires_grad=True) for h, w in sizes],
        [torch.full((batch, 4, h, w), ltrb, requires_grad=True) for h, w in sizes],
        [torch.zeros(batch, 1, h, w, requires_grad=True) for h, w in sizes],
    )


def matched_points(loss: FCOSLoss, sizes: list[tuple[int, int]], boxes: list[list[float]]):
    """{box index: sorted (x, y) of its positive points} for one image."""
    points = loss.points(sizes)
    matched = loss.assign(points, torch.tensor(boxes, dtype=torch.float32))
    return {
        int(box): sorted(tuple(points[i, :2].tolist()) for i in (matched == box).nonzero()[:, 0])
        for box in matched.unique()
    }


# One stride-8 level on a 32 x 32 image: points at 4, 12, 20 and 28 on each axis.
ONE_LEVEL = [(4, 4)]


def test_points_carry_their_stride_and_distance_range() -> None:
    loss = FCOSLoss([8, 16])
    points = loss.points([(2, 3), (1, 2)])
    assert points.tolist() == [
        [4, 4, 8, 0, 64], [12, 4, 8, 0, 64], [20, 4, 8, 0, 64],
        [4, 12, 8, 0, 64], [12, 12, 8, 0, 64], [20, 12, 8, 0, 64],
        [8, 8, 16, 64, math.inf], [24, 8, 16, 64, math.inf],
    ]  # fmt: skip


def test_points_inside_one_box_are_its_positives() -> None:
    loss = FCOSLoss([8])
    assert matched_points(loss, ONE_LEVEL, [[0, 0, 16, 16]]) == {
        -1: sorted((x, y) for x in (4, 12, 20, 28) for y in (4, 12, 20, 28) if x > 16 or y > 16),
        0: [(4, 4), (4, 12), (12, 4), (12, 12)],
    }


def test_a_point_on_the_box_edge_is_outside() -> None:
    # The box's left and top sides pass through the points at 20: only (28, 28) is inside.
    assert matched_points(FCOSLoss([8]), ONE_LEVEL, [[20, 20, 30, 30]])[0] == [(28, 28)]


def test_center_sampling_keeps_points_within_radius_strides_of_the_centre() -> None:
    box = [[0, 0, 32, 32]]  # centre (16, 16): offsets 4 and 12 from the points
    assert matched_points(FCOSLoss([8], center_sampling_radius=1.5), ONE_LEVEL, box)[0] == [
        (12, 12), (12, 20), (20, 12), (20, 20),
    ]  # fmt: skip
    assert len(matched_points(FCOSLoss([8], center_sampling_radius=None), ONE_LEVEL, box)[0]) == 16
    assert matched_points(FCOSLoss([8], center_sampling_radius=0.25), ONE_LEVEL, box) == {
        -1: sorted((x, y) for x in (4, 12, 20, 28) for y in (4, 12, 20, 28))
    }


def test_overlapping_boxes_go_to_the_smaller_one() -> None:
    large, small = [0, 0, 32, 32], [0, 0, 16, 16]
    inside_small = [(4, 4), (4, 12), (12, 4), (12, 12)]
    for boxes, (a, b) in [([large, small], (0, 1)), ([small, large], (1, 0))]:
        matched = matched_points(FCOSLoss([8], center_sampling_radius=None), ONE_LEVEL, boxes)
        assert matched[b] == inside_small
        assert len(matched[a]) == 12 and not set(matched[a]) & set(inside_small)
        # Center sampling leaves the large box the 4 points around its centre but (12, 12).
        matched = matched_points(FCOSLoss([8]), ONE_LEVEL, boxes)
        assert matched[b] == inside_small
        assert matched[a] == [(12, 20), (20, 12), (20, 20)]


def test_each_box_goes_to_the_level_of_its_size() -> None:
    # Strides 8 and 16 on a 256 x 256 image; level 0 takes largest distances up to 64,
    # level 1 larger ones. Every point of a 64-pixel box is at most 64 from each side;
    # every point of a 200-pixel box (12 x 12 at stride 16) is over 64 from one side.
    loss = FCOSLoss([8, 16], center_sampling_radius=None)
    points = loss.points([(32, 32), (16, 16)])
    for box, stride, count in [([8, 8, 72, 72], 8, 64), ([0, 0, 200, 200], 16, 12 * 12)]:
        matched = loss.assign(points, torch.tensor([box], dtype=torch.float32))
        assert points[matched == 0, 2].unique().tolist() == [stride]
        assert (matched == 0).sum() == count


def test_level_boundaries_belong_to_the_finer_level() -> None:
    """Level 0 takes largest distances in (0, 64], level 1 in (64, inf): a distance of
    exactly 64 goes to level 0 only. 80 x 16 image; level 0 has x = 4, 12, .., 76 and
    y = 4, 12; level 1 has x = 8, 24, .., 72 and y = 8."""
    loss = FCOSLoss([8, 16], center_sampling_radius=None)
    sizes = [(2, 10), (1, 5)]
    # Point (12, 4) of level 0 is 64 from the right side of a 76-wide box.
    assert (12, 4) in matched_points(loss, sizes, [[0, 0, 76, 16]])[0]
    # Point (8, 8) of level 1 is 64 from the right side of a 72-wide box: not level 1's.
    assert (8, 8) not in matched_points(loss, sizes, [[0, 0, 72, 16]])[0]


def test_level_sizes_must_match_the_strides() -> None:
    with pytest.raises(ValueError):
        FCOSLoss([8]).points([(4, 4), (2, 2)])


def test_an_image_without_boxes_has_no_positives() -> None:
    loss = FCOSLoss([8])
    assert (loss.assign(loss.points(ONE_LEVEL), torch.zeros(0, 4)) == -1).all()


def test_terms_on_one_box_with_known_values() -> None:
    """Zero logits (p = 0.5), predicted distances half the true ones at the 4 positives."""
    loss = FCOSLoss([8], center_sampling_radius=None)
    num_classes, box = 3, torch.tensor([[0.0, 0.0, 16.0, 16.0]])
    cls_logits, box_regression, centerness = outputs(ONE_LEVEL, num_classes)
    # Point (4, 4) is at ltrb (4, 4, 12, 12) from the box, (12, 12) at (12, 12, 4, 4)...
    ltrb = torch.zeros(1, 4, 4, 4)
    ltrb[0, :, :2, :2] = torch.tensor(
        [[[4, 12], [4, 12]], [[4, 4], [12, 12]], [[12, 4], [12, 4]], [[12, 12], [4, 4]]]
    )
    box_regression = [(ltrb / 2).requires_grad_()]
    total = loss(
        (cls_logits, box_regression, centerness), [{"boxes": box, "labels": torch.tensor([2])}]
    )
    # Focal: alpha_t * (1 - p_t) ** 2 * ln 2 with p_t = 0.5, for 4 positives and
    # 16 * 3 - 4 negatives, divided by 4 positives.
    focal = (4 * 0.25 + 44 * 0.75) * 0.25 * LN2 / 4
    # Each predicted box lies inside its true box with half the width and height.
    giou = 1 - 0.25
    # Centerness: BCE of logit 0 is ln 2 whatever the target.
    assert loss.parts["classification"].item() == pytest.approx(focal)
    assert loss.parts["box"].item() == pytest.approx(giou)
    assert loss.parts["centerness"].item() == pytest.approx(LN2)
    assert total.item() == pytest.approx(focal + giou + LN2)
    total.backward()
    assert all(x.grad is not None for x in (*cls_logits, *box_regression, *centerness))


def test_centerness_target_values() -> None:
    """Logit 0.7 at every point of a 16 x 32 box, whose 8 points have different targets."""
    loss = FCOSLoss([8], center_sampling_radius=None)
    cls_logits, box_regression, _ = outputs(ONE_LEVEL, 1)
    centerness = [torch.full((1, 1, 4, 4), 0.7)]
    target = {"boxes": torch.tensor([[0.0, 0.0, 16.0, 32.0]]), "labels": torch.tensor([0])}
    loss((cls_logits, box_regression, centerness), [target])

    def ratio(a: float, b: float) -> float:
        return min(a, b) / max(a, b)

    targets = [
        math.sqrt(ratio(x, 16 - x) * ratio(y, 32 - y)) for x in (4, 12) for y in (4, 12, 20, 28)
    ]
    assert targets[0] == pytest.approx(math.sqrt(4 / 12 * 4 / 28))
    expected = sum(
        -(t * math.log(torch.sigmoid(torch.tensor(0.7)).item()))
        - (1 - t) * math.log(1 - torch.sigmoid(torch.tensor(0.7)).item())
        for t in targets
    ) / len(targets)
    assert loss.parts["centerness"].item() == pytest.approx(expected)


def test_exact_boxes_have_zero_box_loss() -> None:
    loss = FCOSLoss([8], center_sampling_radius=None)
    cls_logits, _, centerness = outputs(ONE_LEVEL, 1)
    box = torch.tensor([[2.0, 3.0, 27.0, 30.0]])
    points = loss.points(ONE_LEVEL)[:, :2]
    ltrb = torch.cat([points - box[:, :2], box[:, 2:] - points], dim=1)  # (16, 4)
    box_regression = [ltrb.T.reshape(1, 4, 4, 4)]
    loss((cls_logits, box_regression, centerness), [{"boxes": box, "labels": torch.tensor([0])}])
    assert loss.parts["box"].item() == pytest.approx(0.0, abs=1e-6)


def test_an_image_without_boxes_has_only_a_background_classification_loss() -> None:
    loss = FCOSLoss([8])
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    cls_logits, box_regression, centerness = outputs(ONE_LEVEL, 2)
    total = loss((cls_logits, box_regression, centerness), [empty])
    # No positives: the sum over 16 * 2 negatives is divided by 1.
    assert loss.parts["classification"].item() == pytest.approx(32 * 0.75 * 0.25 * LN2)
    assert loss.parts["box"].item() == 0 and loss.parts["centerness"].item() == 0
    total.backward()
    assert cls_logits[0].grad.abs().sum() > 0


def test_focal_parameters_reach_the_focal_loss() -> None:
    """alpha 0.5, gamma 1: each of the 32 negatives at p = 0.5 costs 0.5 * 0.5 ** 1 * ln 2."""
    loss = FCOSLoss([8], focal_alpha=0.5, focal_gamma=1.0)
    assert loss.parts == {}  # nothing to log before the first call
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    loss(outputs(ONE_LEVEL, 2), [empty])
    assert loss.parts["classification"].item() == pytest.approx(32 * 0.5 * 0.5 * LN2)


def test_crowd_boxes_make_no_positives() -> None:
    loss = FCOSLoss([8], center_sampling_radius=None)
    boxes = torch.tensor([[0.0, 0.0, 16.0, 16.0], [16.0, 16.0, 32.0, 32.0]])
    cls_logits, box_regression, centerness = outputs(ONE_LEVEL, 2)
    crowd = {"boxes": boxes, "labels": torch.tensor([0, 1]), "iscrowd": torch.tensor([0, 1])}
    plain = {"boxes": boxes[:1], "labels": torch.tensor([0])}
    loss((cls_logits, box_regression, centerness), [crowd])
    with_crowd = dict(loss.parts)
    loss((cls_logits, box_regression, centerness), [plain])
    assert with_crowd == loss.parts


def test_bad_size_boundaries_name_the_problem() -> None:
    with pytest.raises(ValueError, match="size_boundaries needs 2 values for 3 levels"):
        FCOSLoss([8, 16, 32], size_boundaries=[64])


@pytest.mark.parametrize("radius", [1.5, None])
def test_matches_torchvision_fcos_loss_on_random_batches(radius: float | None) -> None:
    """torchvision's FCOS with anchors of size = stride centred on our points.

    Its regression is in units of the anchor size, so it gets our distances / stride;
    it assigns points to boxes with the same rule and normalises by the same count.
    """
    generator = torch.Generator().manual_seed(0)
    strides, sizes, num_classes = [8, 16, 32], [(16, 16), (8, 8), (4, 4)], 4
    loss = FCOSLoss(strides, center_sampling_radius=radius)
    targets = []
    for count in (5, 0, 3):  # an image without boxes in the middle
        xy = torch.rand(count, 2, generator=generator) * 100
        wh = torch.rand(count, 2, generator=generator) * 120 + 4
        boxes = torch.cat([xy, (xy + wh).clamp(max=128)], dim=1)
        labels = torch.randint(num_classes, (count,), generator=generator)
        targets.append({"boxes": boxes, "labels": labels})
    cls_maps = [torch.randn(3, num_classes, h, w, generator=generator) for h, w in sizes]
    box_maps = [torch.rand(3, 4, h, w, generator=generator) * 40 for h, w in sizes]
    ctr_maps = [torch.randn(3, 1, h, w, generator=generator) for h, w in sizes]
    loss((cls_maps, box_maps, ctr_maps), targets)

    points = loss.points(sizes)
    half = points[:, 2:3] / 2
    anchors = torch.cat([points[:, :2] - half, points[:, :2] + half], dim=1)

    def flat(maps: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([m.flatten(2).transpose(1, 2) for m in maps], dim=1)

    reference = SimpleNamespace(
        center_sampling_radius=radius if radius is not None else math.inf,
        head=FCOSHead(32, 1, num_classes, num_convs=0),
    )
    expected = FCOS.compute_loss(
        reference,
        targets,
        {
            "cls_logits": flat(cls_maps),
            "bbox_regression": flat(box_maps) / points[:, 2:3],
            "bbox_ctrness": flat(ctr_maps),
        },
        [anchors] * 3,
        [h * w for h, w in sizes],
    )
    positives = sum((loss.assign(points, t["boxes"]) >= 0).sum().item() for t in targets)
    assert positives > 20
    for ours, theirs in [
        ("classification", "classification"),
        ("box", "bbox_regression"),
        ("centerness", "bbox_ctrness"),
    ]:
        torch.testing.assert_close(loss.parts[ours], expected[theirs], rtol=1e-5, atol=1e-6)


def test_parts_are_detached_so_the_loss_deep_copies_after_a_step() -> None:
    """Parts keep no graph: ``copy.deepcopy`` of a module holding the loss works (ONNX export)."""
    loss = FCOSLoss(strides=[8])
    logits = torch.zeros(1, 2, 4, 4, requires_grad=True)
    distances = torch.full((1, 4, 4, 4), 8.0, requires_grad=True)
    outputs = ([logits], [distances], [torch.zeros(1, 1, 4, 4)])
    target = [{"boxes": torch.tensor([[4.0, 4.0, 20.0, 20.0]]), "labels": torch.tensor([1])}]
    total = loss(outputs, target)
    total.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    assert all(not part.requires_grad for part in loss.parts.values())
    torch.testing.assert_close(total.detach(), sum(loss.parts.values()))
    copy.deepcopy(loss)
