"""How many DataLoader worker processes to start: a number, or ``"auto"`` for this machine."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

MAX_AUTO_WORKERS = 8
"""Beyond about 8 workers per device decoding rarely gets faster, while memory keeps growing."""

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
"""cgroup v2 CPU quota (``"<quota> <period>"`` or ``"max <period>"``), set by containers."""


def resolve_num_workers(value: int | Literal["auto"], devices: int = 1) -> int:
    """``value`` itself, or for ``"auto"`` the usable CPUs per device minus one, at most 8.

    Each device's process runs its own DataLoader, so the usable CPUs (the process's
    CPU affinity, capped by a container's CPU quota) are shared between ``devices``;
    one CPU per device stays with the training process itself. With a single CPU per
    device the result is 0: images load in the training process.
    """
    if value == "auto":
        per_device = usable_cpus() // max(devices, 1)
        return max(0, min(MAX_AUTO_WORKERS, per_device - 1))
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"num_workers must be a non-negative integer or 'auto', got {value!r}")
    return value


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity, capped by a cgroup v2 CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        cpus = os.cpu_count() or 1
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()[:2]
        limit = math.ceil(int(quota) / int(period))
    except (OSError, ValueError, ZeroDivisionError):  # no cgroup v2, or no quota ("max")
        return cpus
    return max(1, min(cpus, limit))
