"""Param groups (weight decay split) and lr schedules against their closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from component_library.optim.param_groups import param_groups
from component_library.optim.schedulers import build_scheduler, sync_new_param_groups

BASE_LR = 0.1


# -- param_groups ---------------------------------------------------------------------------


def _model() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.LayerNorm([4, 6, 6]),  # a norm layer with a 3-D weight
        nn.Flatten(),
        nn.Linear(144, 2),
    )


def _ids(params) -> set[int]:
    return {id(p) for p in params}


def test_param_groups_split_decay_from_norm_and_bias() -> None:
    model = _model()
    conv, bn, ln, _, linear = model
    conv.bias.requires_grad_(False)

    groups = param_groups(model, weight_decay=0.05)

    by_decay = {group["weight_decay"]: _ids(group["params"]) for group in groups}
    assert len(groups) == 2
    assert by_decay[0.05] == _ids([conv.weight, linear.weight])
    assert by_decay[0.0] == _ids([bn.weight, bn.bias, ln.weight, ln.bias, linear.bias])
    assert all("lr" not in group for group in groups)


def test_param_groups_set_lr_and_drop_empty_groups() -> None:
    model = _model()
    for p in model.parameters():
        p.requires_grad_(False)
    assert param_groups(model, weight_decay=0.05) == []

    (group,) = param_groups(nn.BatchNorm2d(4), weight_decay=0.05, lr=0.01)
    assert group["lr"] == 0.01 and group["weight_decay"] == 0.0


# -- schedulers -----------------------------------------------------------------------------


def _optimizer(lr: float = BASE_LR) -> torch.optim.Optimizer:
    return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)


def _run(config: dict, steps: int) -> list[float]:
    """The first group's lr after 0, 1, ..., ``steps`` scheduler steps."""
    scheduler = config["scheduler"]
    lrs = [scheduler.optimizer.param_groups[0]["lr"]]
    for _ in range(steps):
        scheduler.optimizer.step()
        scheduler.step()
        lrs.append(scheduler.optimizer.param_groups[0]["lr"])
    return lrs


def _cosine(step: int, total: int = 100, warmup: int = 10, floor: float = 0.1) -> float:
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = min(1.0, (step - warmup) / (total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def test_cosine_with_warmup() -> None:
    config = build_scheduler(
        _optimizer(), name="cosine", total_steps=100, warmup_steps=10, min_lr_factor=0.1
    )
    assert config["interval"] == "step"
    lrs = _run(config, 120)
    expected = {0: 1 / 11, 5: 6 / 11, 10: 1.0, 55: 0.55, 100: 0.1, 120: 0.1}
    for step, factor in expected.items():
        assert lrs[step] == pytest.approx(BASE_LR * factor), step
    for step in range(121):
        assert lrs[step] == pytest.approx(BASE_LR * _cosine(step)), step


def test_step_decay_after_warmup() -> None:
    config = build_scheduler(
        _optimizer(), name="step", total_steps=100, warmup_steps=4, step_size=30, gamma=0.5
    )
    lrs = _run(config, 100)
    assert lrs[2] == pytest.approx(BASE_LR * 3 / 5)
    assert lrs[4] == lrs[33] == pytest.approx(BASE_LR)
    assert lrs[34] == lrs[63] == pytest.approx(BASE_LR * 0.5)
    assert lrs[64] == pytest.approx(BASE_LR * 0.25)


def test_step_decays_at_thirds_by_default_and_respects_the_floor() -> None:
    config = build_scheduler(_optimizer(), name="step", total_steps=90, min_lr_factor=0.05)
    lrs = _run(config, 90)
    assert lrs[29] == pytest.approx(BASE_LR)
    assert lrs[30] == pytest.approx(BASE_LR * 0.1)
    assert lrs[60] == lrs[90] == pytest.approx(BASE_LR * 0.05)


def test_constant_after_warmup() -> None:
    lrs = _run(build_scheduler(_optimizer(), name="constant", total_steps=50, warmup_steps=4), 50)
    assert lrs[:5] == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1])
    assert lrs[4:] == pytest.approx([BASE_LR] * 47)


def test_plateau_reduces_after_patience() -> None:
    config = build_scheduler(
        _optimizer(), name="plateau", total_steps=1, gamma=0.5, patience=2, monitor="val/loss"
    )
    assert config["interval"] == "epoch" and config["monitor"] == "val/loss"
    scheduler = config["scheduler"]
    lrs = []
    for _ in range(4):
        scheduler.step(1.0)  # never improves after the first epoch
        lrs.append(scheduler.optimizer.param_groups[0]["lr"])
    assert lrs == pytest.approx([BASE_LR, BASE_LR, BASE_LR, BASE_LR * 0.5])


def test_cosine_at_defaults_has_no_warmup_and_ends_at_zero() -> None:
    lrs = _run(build_scheduler(_optimizer(), name="cosine", total_steps=40), 40)
    for step in range(41):
        expected = BASE_LR * 0.5 * (1 + math.cos(math.pi * step / 40))
        assert lrs[step] == pytest.approx(expected, abs=1e-12), step


def test_plateau_at_defaults_waits_10_epochs_then_decays_tenfold_without_floor() -> None:
    scheduler = build_scheduler(_optimizer(), name="plateau", total_steps=1, monitor="m")[
        "scheduler"
    ]
    lrs = []
    for loss in [1.0] * 12 + [2.0] * 11:  # mode "min": a rising loss never improves either
        scheduler.step(loss)
        lrs.append(scheduler.optimizer.param_groups[0]["lr"])
    assert lrs[:11] == pytest.approx([BASE_LR] * 11)
    assert lrs[11:22] == pytest.approx([BASE_LR * 0.1] * 11)
    assert lrs[22] == pytest.approx(BASE_LR * 0.01)


def test_user_errors_name_the_value() -> None:
    with pytest.raises(ValueError, match=r"'linear'.*cosine, step, constant, plateau"):
        build_scheduler(_optimizer(), name="linear", total_steps=10)
    with pytest.raises(ValueError, match="monitor"):
        build_scheduler(_optimizer(), name="plateau", total_steps=10)
    with pytest.raises(ValueError, match="warmup_steps=20"):
        build_scheduler(_optimizer(), name="cosine", total_steps=10, warmup_steps=20)


# -- sync_new_param_groups ------------------------------------------------------------------


def _add_group(optimizer: torch.optim.Optimizer, lr: float) -> None:
    optimizer.add_param_group({"params": [nn.Parameter(torch.zeros(1))], "lr": lr})


def test_sync_puts_a_new_group_on_the_lambda_schedule() -> None:
    config = build_scheduler(
        _optimizer(), name="cosine", total_steps=100, warmup_steps=10, min_lr_factor=0.1
    )
    scheduler, optimizer = config["scheduler"], config["scheduler"].optimizer
    _run(config, 30)

    _add_group(optimizer, lr=0.1 * BASE_LR)
    sync_new_param_groups(scheduler)
    sync_new_param_groups(scheduler)  # idempotent
    assert optimizer.param_groups[1]["lr"] == pytest.approx(0.1 * BASE_LR * _cosine(30))

    for step in range(31, 101):
        optimizer.step()
        scheduler.step()
        new, old = optimizer.param_groups[1]["lr"], optimizer.param_groups[0]["lr"]
        assert new == pytest.approx(0.1 * BASE_LR * _cosine(step)), step
        assert old == pytest.approx(BASE_LR * _cosine(step)), step


def test_sync_after_resuming_with_more_groups_than_at_build() -> None:
    config = build_scheduler(_optimizer(), name="cosine", total_steps=100, warmup_steps=10)
    scheduler, optimizer = config["scheduler"], config["scheduler"].optimizer
    _run(config, 20)
    _add_group(optimizer, lr=0.01)
    sync_new_param_groups(scheduler)
    _run(config, 10)
    state = (optimizer.state_dict(), scheduler.state_dict())

    # As on resume: build with one group, re-add the other, then load both states.
    resumed = build_scheduler(_optimizer(), name="cosine", total_steps=100, warmup_steps=10)
    _add_group(resumed["scheduler"].optimizer, lr=0.01)
    resumed["scheduler"].optimizer.load_state_dict(state[0])
    resumed["scheduler"].load_state_dict(state[1])
    sync_new_param_groups(resumed["scheduler"])

    for _ in range(10):
        for s in (scheduler, resumed["scheduler"]):
            s.optimizer.step()
            s.step()
        expected = [group["lr"] for group in optimizer.param_groups]
        assert [g["lr"] for g in resumed["scheduler"].optimizer.param_groups] == expected


def test_sync_lets_plateau_reduce_a_new_group_down_to_its_own_floor() -> None:
    config = build_scheduler(
        _optimizer(),
        name="plateau",
        total_steps=1,
        gamma=0.5,
        patience=0,
        min_lr_factor=0.3,
        monitor="val/loss",
    )
    scheduler, optimizer = config["scheduler"], config["scheduler"].optimizer
    scheduler.step(1.0)
    _add_group(optimizer, lr=0.1 * BASE_LR)
    sync_new_param_groups(scheduler)

    scheduler.step(1.0)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.05, 0.005])
    scheduler.step(1.0)
    scheduler.step(1.0)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.03, 0.003])
