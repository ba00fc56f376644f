"""num_workers: a number passes through; "auto" shares this machine's usable CPUs per device."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from component_library.datasets import workers
from component_library.datasets.workers import resolve_num_workers, usable_cpus


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Pretend the process may run on ``cpus`` CPUs, under an optional cgroup ``cpu.max``."""

    def set_machine(cpus: int, cpu_max: str | None = None) -> None:
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
        cgroup = tmp_path / "cpu.max"
        if cpu_max is not None:
            cgroup.write_text(cpu_max + "\n")
        monkeypatch.setattr(workers, "CGROUP_CPU_MAX", cgroup)

    return set_machine


@pytest.mark.parametrize("value", [0, 1, 3, 32])
def test_a_number_is_kept(value: int, machine) -> None:
    machine(2)
    assert resolve_num_workers(value) == value
    assert resolve_num_workers(value, devices=4) == value


@pytest.mark.parametrize(
    ("cpus", "devices", "expected"),
    [
        (1, 1, 0),  # one CPU: load in the training process
        (2, 1, 1),
        (4, 1, 3),
        (9, 1, 8),
        (64, 1, 8),  # capped
        (64, 8, 7),  # 8 CPUs per device
        (16, 4, 3),
        (4, 8, 0),  # fewer CPUs than devices
    ],
)
def test_auto_is_cpus_per_device_minus_one_at_most_8(
    cpus: int, devices: int, expected: int, machine
) -> None:
    machine(cpus)
    assert resolve_num_workers("auto", devices) == expected
    assert expected == max(0, min(8, cpus // devices - 1))  # the rule, spelled out once more


def test_auto_default_is_for_one_device(machine) -> None:
    machine(6)
    assert resolve_num_workers("auto") == 5


@pytest.mark.parametrize(
    ("cpu_max", "expected_cpus"),
    [
        ("200000 100000", 2),  # docker --cpus=2 on a 16-CPU host
        ("150000 100000", 2),  # 1.5 CPUs: rounded up
        ("50000 100000", 1),
        ("max 100000", 16),  # no quota
        ("garbage", 16),
    ],
)
def test_container_cpu_quota_caps_the_cpus(cpu_max: str, expected_cpus: int, machine) -> None:
    machine(16, cpu_max)
    assert usable_cpus() == expected_cpus
    assert resolve_num_workers("auto") == min(8, expected_cpus - 1)


def test_without_cgroup_file_affinity_counts(machine) -> None:
    machine(3)  # no cpu.max written
    assert usable_cpus() == 3


def test_real_machine_gives_a_usable_count() -> None:
    count = resolve_num_workers("auto")
    assert 0 <= count <= min(8, max(0, (os.cpu_count() or 1) - 1))


@pytest.mark.parametrize("value", [-1, "many", 2.5, True, None])
def test_bad_value_raises_one_line(value: object) -> None:
    with pytest.raises(ValueError, match=rf"num_workers must be .* got {re.escape(repr(value))}"):
        resolve_num_workers(value)  # type: ignore[arg-type]
