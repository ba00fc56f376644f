"""Does the generated training loop cost anything over a hand-written PyTorch loop?

A thin runner over a generated project's own ``bench`` command (``bench.py`` in
every project holds the logic): generates a classification project, writes its
sample data, and benchmarks it. Prints images per second of the project's
Trainer on in-memory batches, through its data loader, and of a hand-written
loop on the same batches, with their ratio; on a GPU also FLOPs and MFU.

    python benchmarks/loop_overhead.py [--steps 60] [--batch-size 32] [--image-size 64]
        [--backbone resnet18] [key.sub=value ...]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
from pathlib import Path

from typer.testing import CliRunner

from okgen.cli import app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        flags = ["--backbone", args.backbone, "--image-size", str(args.image_size)]
        result = CliRunner().invoke(app, ["new", "bench", "--yes", "-o", tmp, *flags])
        assert result.exit_code == 0, result.output
        project = Path(tmp) / "bench"
        sys.path.insert(0, str(project / "src"))
        cli = importlib.import_module("bench.cli")
        config = ["-c", str(project / "configs" / "train.yaml")]
        common = [*config, f"data.root={tmp}/data", f"run_dir={tmp}/runs"]
        assert cli.main(["sample-data", *common]) == 0
        command = ["bench", *common, "--steps", str(args.steps)]
        if args.peak_tflops is not None:
            command += ["--peak-tflops", str(args.peak_tflops)]
        assert cli.main([*command, f"data.batch_size={args.batch_size}", *args.overrides]) == 0
        print((Path(tmp) / "runs" / "bench" / "bench.json").read_text())


if __name__ == "__main__":
    main()
