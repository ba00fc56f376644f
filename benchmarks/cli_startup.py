"""Wall time of the okgen command line: ``okgen --help`` and ``okgen new X --yes``.

Each run is a fresh interpreter, as a user's shell starts one, so imports count.
Prints the median wall time (and the spread) over ``-n`` runs, and the median
CPU time of the process and its children (ruff), which a busy machine inflates
far less than the wall time. The target for ``new`` is under 0.5 s wall.

    python benchmarks/cli_startup.py -n 10

Measured on the 2-core development machine while about eight other jobs ran on it
(load average 15-20, so only CPU time compares), old and new okgen interleaved,
10 runs each: ``okgen new X --yes`` took 1.04 s of CPU before copier was called
without its prompt libraries and git probes (and the catalogue was read with
libyaml), 0.74 s after: a ratio of 0.71. The issue measured 0.72 s wall for the
old code at rest, which puts the new one near 0.51 s; at rest earlier here the old
code took 0.60-0.65 s wall, which puts it near 0.45 s. ``okgen --help`` is
unchanged (0.28 s CPU under that load).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OKGEN = [sys.executable, "-c", "import sys; from okgen.cli import app; sys.exit(app())"]


def timed(args: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds per run of ``okgen *args``, each in a new empty folder."""
    walls, cpus = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="okgen-bench-") as folder:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run([*OKGEN, *args], cwd=folder, check=True, capture_output=True)
            walls.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=10, help="runs per command")
    runs = parser.parse_args().runs
    timed(["new", "warmup", "--yes"], 1)  # fill the OS file cache and __pycache__
    for label, args in (("okgen --help", ["--help"]), ("okgen new X --yes", ["new", "x", "--yes"])):
        walls, cpus = timed(args, runs)
        print(
            f"{label:<20} wall median {statistics.median(walls):.3f} s "
            f"(min {min(walls):.3f}, max {max(walls):.3f}, {runs} runs); "
            f"CPU median {statistics.median(cpus):.3f} s"
        )
    print(f"python {sys.version.split()[0]}, okgen from {Path(OKGEN[0]).parent.parent}")


if __name__ == "__main__":
    main()
