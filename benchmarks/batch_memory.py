"""Peak memory of a training step against the batch size: MB per image and the fixed part.

Renders a default project of ``--task`` (self_supervised: SimCLR) and, for each batch
size, starts a fresh process that builds the task from the project's config and runs
two training steps (forward, loss, backward, optimiser step: ``bench.py``'s plain loop)
on random batches of the training shape, then reads the process's peak RSS (on a GPU,
the peak CUDA allocation). A least-squares line through the peaks gives the memory per
image of ``data.batch_size`` (for SimCLR an image is its two views) and the intercept
(Python, the libraries, the model and its optimiser state). Fresh processes, because
a peak never goes down; each batch size runs ``--repeats`` times.

    python benchmarks/batch_memory.py [--task self_supervised] [--batch-sizes 32 64 128 256]
        [--repeats 2] [key.sub=value ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from okgen.cli import app

NAME = "mem"
#: Two training steps on random batches, shaped like one of the project's training batches.
STEP = f"""
import sys
import lightning as L
import torch
from torch.utils.data import default_collate
from {NAME}.bench import timed_plain_loop
from {NAME}.build import build_data
from {NAME}.config import load_config

config = load_config("configs/train.yaml", sys.argv[1:])
L.seed_everything(config.trainer.seed)
data = build_data(config)
data.setup("fit")
item = data.datasets["train"][0]
batch = default_collate([item] * config.data.batch_size)
batch = [torch.randn_like(batch[0]), *batch[1:]]
print(timed_plain_loop(config, [batch] * 2)["peak_memory_mb"])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="self_supervised")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        result = CliRunner().invoke(app, ["new", NAME, "--yes", "--task", args.task, "-o", tmp])
        assert result.exit_code == 0, result.output
        project = Path(tmp) / NAME
        env = {**os.environ, "PYTHONPATH": str(project / "src")}
        subprocess.run(
            [sys.executable, "-m", NAME, "sample-data"], cwd=project, env=env, check=True
        )
        sizes, peaks = [], []
        for _ in range(args.repeats):
            for size in args.batch_sizes:
                overrides = [f"data.batch_size={size}", "data.num_workers=0", *args.overrides]
                output = subprocess.run(
                    [sys.executable, "-c", STEP, *overrides],
                    cwd=project,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                sizes.append(size)
                peaks.append(float(output.split()[-1]))
                print(f"batch {size:4d}: peak {peaks[-1]:7.1f} MB", flush=True)
    slope, intercept = np.polyfit(sizes, peaks, 1)
    print(f"{slope:.2f} MB per image + {intercept:.0f} MB")


if __name__ == "__main__":
    main()
