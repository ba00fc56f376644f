"""Self-supervised pretraining to fine-tuning, end to end on sample data.

A SimCLR project pretrains briefly, exports its backbone in one command, and a
classification project made by okgen starts from those weights through
``model.backbone.params.pretrained: <path>`` and fine-tunes with an unfreeze schedule.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from .test_generated_projects import generate

SIZE = 32
#: Prints the largest difference between the exported weights and the backbone that
#: the classification project's config builds, then whether a wrong file is refused.
CHECK_LOADED = """
import sys, torch
from {package}.build import build_model
from {package}.config import load_config
from {package}.errors import ConfigError
path = sys.argv[1]
config = load_config("configs/train.yaml", [f"model.backbone.params.pretrained={{path}}"])
own = build_model(config).backbone.state_dict()
saved = torch.load(path, weights_only=True)
largest = max((own[key] - value).abs().max().item() for key, value in saved.items())
print(largest, len(saved) == len(own))
torch.save({{"model.conv1.weight": torch.zeros(1)}}, "wrong.pth")
try:
    build_model(load_config("configs/train.yaml", ["model.backbone.params.pretrained=wrong.pth"]))
except ConfigError as error:
    print("refused:", error)
"""


def run(project: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(project / "src"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, *args], cwd=project, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.e2e
def test_pretrain_export_and_fine_tune_from_the_backbone(tmp_path: Path) -> None:
    cpu = ["trainer.accelerator=cpu", "trainer.precision=32-true", "data.num_workers=0"]
    pre = generate(tmp_path, "pre", ["--task", "self_supervised", "--image-size", str(SIZE)])
    run(pre, "-m", "pre", "sample-data")
    run(pre, "-m", "pre", "train", "trainer.max_epochs=1", *cpu)
    probe = json.loads(run(pre, "-m", "pre", "linear-probe", *cpu))
    weights = pre / run(pre, "-m", "pre", "export-backbone").strip().split("wrote ")[-1]
    assert weights.is_file()
    assert 0 <= probe.get("linear_probe/top1", -1) <= 1

    cls = generate(tmp_path, "cls", ["--image-size", str(SIZE), "--unfreeze-epoch", "1"])
    lines = run(cls, "-c", CHECK_LOADED.format(package="cls"), str(weights)).splitlines()
    difference, complete = lines[0].split()
    assert float(difference) == 0.0 and complete == "True"  # every tensor, exactly
    assert lines[1].startswith("refused:") and "model.backbone.params.pretrained" in lines[1]

    run(cls, "-m", "cls", "sample-data")
    pretrained = f"model.backbone.params.pretrained={weights}"
    run(cls, "-m", "cls", "train", pretrained, "trainer.max_epochs=2", *cpu)
    run_dir = next((cls / "runs" / "cls").glob("version_*"))
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    assert any("val/accuracy" in row for row in rows[:1]) and len(rows) > 2
    checkpoint = torch.load(next(run_dir.glob("checkpoints/best*.ckpt")), weights_only=False)
    assert any(key.startswith("model.backbone.") for key in checkpoint["state_dict"])
