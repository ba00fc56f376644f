"""NTXentLoss: value against a loop over the SimCLR formula, and DDP equivalence (gloo, 2 ranks)."""

from __future__ import annotations

import math
import os
import re
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from component_library.losses import nt_xent
from component_library.losses.nt_xent import NTXentLoss


def loop_nt_xent(z: Tensor, temperature: float) -> float:
    """SimCLR's L = 1/(2N) sum_i -log(exp(s_ip/t) / sum_{k != i} exp(s_ik/t)), in float64 loops."""
    rows = z.shape[0]
    z = z.double()
    z = [z[i] / z[i].norm() for i in range(rows)]
    total = 0.0
    for i in range(rows):
        positive = (i + rows // 2) % rows
        sims = {k: float(z[i] @ z[k]) / temperature for k in range(rows) if k != i}
        denominator = sum(math.exp(s) for s in sims.values())
        total += -math.log(math.exp(sims[positive]) / denominator)
    return total / rows


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_value_matches_loop_formula(temperature: float) -> None:
    z = torch.randn(12, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    loss = NTXentLoss(temperature)(z)
    assert abs(loss.item() - loop_nt_xent(z, temperature)) < 1e-6


def test_default_temperature_and_scale_invariance() -> None:
    z = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    loss = NTXentLoss()
    assert loss.temperature == 0.1
    assert abs(loss(z).item() - loop_nt_xent(z, 0.1)) < 1e-5  # float32 input
    # Rows are L2-normalised, so their length does not matter.
    scales = torch.rand(8, 1, generator=torch.Generator().manual_seed(2)) * 10 + 0.1
    torch.testing.assert_close(loss(z * scales), loss(z))


def test_target_is_ignored_and_aligned_views_beat_random_ones() -> None:
    generator = torch.Generator().manual_seed(3)
    z1 = torch.randn(16, 32, generator=generator)
    aligned = torch.cat([z1, z1 + 0.01 * torch.randn(16, 32, generator=generator)])
    shuffled = torch.cat([z1, torch.randn(16, 32, generator=generator)])
    loss = NTXentLoss()
    assert loss(aligned, target=torch.zeros(16)) == loss(aligned)
    assert loss(aligned) < 0.1 < math.log(31) - 1 < loss(shuffled)


def test_gradient_and_finite_at_low_temperature() -> None:
    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(4), requires_grad=True)
    loss = NTXentLoss(temperature=0.01)(z * 100)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_float32_under_bf16_autocast() -> None:
    z = torch.randn(8, 16, generator=torch.Generator().manual_seed(5))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = NTXentLoss()(z)
    assert loss.dtype == torch.float32
    assert abs(loss.item() - loop_nt_xent(z, 0.1)) < 1e-5


def test_one_image_has_no_negatives_and_scores_zero() -> None:
    """B = 1: each view's only candidate is its positive, so softmax gives it probability 1."""
    z = torch.randn(2, 4, generator=torch.Generator().manual_seed(8))
    assert NTXentLoss()(z).item() == 0.0


@pytest.mark.parametrize("shape", [(5, 4), (1, 4), (8,)])
def test_bad_shape_is_one_line_error(shape: tuple[int, ...]) -> None:
    message = rf"^NTXentLoss: expected \(2B, D\) .* got {re.escape(str(shape))}$"
    with pytest.raises(ValueError, match=message):
        NTXentLoss()(torch.randn(shape))


def test_bad_temperature() -> None:
    with pytest.raises(ValueError, match="temperature must be > 0"):
        NTXentLoss(temperature=0)


def test_middle_rank_of_three_masks_its_own_rows_in_the_gathered_keys(monkeypatch) -> None:
    """Rank 1 of 3 (an in-process stand-in for the all-gather): its anchors are rows
    ``2B..4B`` of the gathered keys, so its own similarities and positives sit there."""
    local = [torch.randn(6, 5, generator=torch.Generator().manual_seed(10 + r)) for r in range(3)]
    monkeypatch.setattr(nt_xent, "_world_size", lambda: 3)
    monkeypatch.setattr(nt_xent.dist, "get_rank", lambda: 1)
    monkeypatch.setattr(
        nt_xent,
        "all_gather",
        lambda z: [F.normalize(x, dim=1) if r != 1 else z for r, x in enumerate(local)],
    )
    keys = F.normalize(torch.cat(local).double(), dim=1)
    expected = 0.0
    for i in range(6):
        anchor, positive = 6 + i, 6 + (i + 3) % 6
        logits = {k: float(keys[anchor] @ keys[k]) / 0.1 for k in range(18) if k != anchor}
        denominator = sum(math.exp(s) for s in logits.values())
        expected += -math.log(math.exp(logits[positive]) / denominator) / 6
    assert NTXentLoss()(local[1]).item() == pytest.approx(expected, abs=1e-5)


# DDP: two gloo ranks, each holding half the images (both views), must reproduce the
# single-process loss and parameter gradients on the global batch.
WORLD, LOCAL_IMAGES, IN, DIM = 2, 3, 6, 4


def _global_batch() -> tuple[Tensor, Tensor, nn.Linear]:
    generator = torch.Generator().manual_seed(6)
    x1 = torch.randn(WORLD * LOCAL_IMAGES, IN, generator=generator, dtype=torch.float64)
    x2 = torch.randn(WORLD * LOCAL_IMAGES, IN, generator=generator, dtype=torch.float64)
    torch.manual_seed(7)
    return x1, x2, nn.Linear(IN, DIM).double()


def _rank(rank: int, port: int, out: Path) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        x1, x2, model = _global_batch()
        ddp = DistributedDataParallel(model)
        mine = slice(rank * LOCAL_IMAGES, (rank + 1) * LOCAL_IMAGES)
        z = ddp(torch.cat([x1[mine], x2[mine]]))
        z.retain_grad()
        loss = NTXentLoss()(z)
        loss.backward()
        mean_loss = loss.detach().clone()
        dist.all_reduce(mean_loss)  # the loss Lightning logs with sync_dist: the ranks' mean
        torch.save(
            {
                "loss": mean_loss / WORLD,
                "weight_grad": model.weight.grad,
                "bias_grad": model.bias.grad,
                "z_grad": z.grad,
            },
            out / f"rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ddp_all_gather_matches_single_process(tmp_path: Path) -> None:
    mp.spawn(_rank, args=(_free_port(), tmp_path), nprocs=WORLD)
    x1, x2, model = _global_batch()
    z = model(torch.cat([x1, x2]))
    z.retain_grad()
    loss = NTXentLoss()(z)
    loss.backward()
    assert abs(loss.item() - loop_nt_xent(z.detach(), 0.1)) < 1e-6
    for rank in range(WORLD):
        result = torch.load(tmp_path / f"rank{rank}.pt")
        assert abs(result["loss"].item() - loss.item()) < 1e-6
        torch.testing.assert_close(result["weight_grad"], model.weight.grad, rtol=0, atol=1e-6)
        torch.testing.assert_close(result["bias_grad"], model.bias.grad, rtol=0, atol=1e-6)
        # Before DDP averages, each rank's rows get the gradient of the SUM of the ranks'
        # losses, i.e. WORLD times their share of the single-process gradient.
        mine = [*range(rank * LOCAL_IMAGES, (rank + 1) * LOCAL_IMAGES)]
        rows = mine + [i + WORLD * LOCAL_IMAGES for i in mine]
        torch.testing.assert_close(result["z_grad"], WORLD * z.grad[rows], rtol=0, atol=1e-6)
    # Without the all-gather, each rank would only see its own negatives: a different loss.
    images = WORLD * LOCAL_IMAGES
    local = NTXentLoss()(torch.cat([z[:LOCAL_IMAGES], z[images : images + LOCAL_IMAGES]]))
    assert abs(local.item() - loss.item()) > 1e-3
