"""Every task works with every backbone family okgen tests: the generated model runs."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from okgen.catalogue import load_catalogue
from okgen.cli import app

CATALOGUE = load_catalogue()


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One generated project per task, importable side by side."""
    root = tmp_path_factory.mktemp("families")
    made = {}
    for task in CATALOGUE.tasks:
        name = f"family_{task}"
        result = CliRunner().invoke(app, ["new", name, "--yes", "-o", str(root), "--task", task])
        assert result.exit_code == 0, result.output
        made[task] = root / name
        sys.path.insert(0, str(root / name / "src"))
    return made


@pytest.mark.e2e
@pytest.mark.parametrize("task", list(CATALOGUE.tasks))
@pytest.mark.parametrize("backbone", list(CATALOGUE.backbone_models))
def test_task_runs_on_backbone_family(projects: dict[str, Path], task: str, backbone: str) -> None:
    package = f"family_{task}"
    config_module = importlib.import_module(f"{package}.config")
    build = importlib.import_module(f"{package}.build")
    size = 64
    # Every backbone is built for the training size: the project passes data.image_size on.
    overrides = [
        f"model.backbone.name={backbone}",
        "model.backbone.params={pretrained: false}",
        f"data.image_size={size}",
    ]
    config = config_module.load_config(projects[task] / "configs" / "train.yaml", overrides)
    model = build.build_model(config)
    outputs = model(torch.rand(2, 3, size, size))
    classes = config.model.num_classes
    if task == "detection":  # per pyramid level: class scores, box distances, centerness
        scores, boxes, centerness = outputs
        levels = [(size // s, size // s) for s in model.neck.strides]
        assert [tuple(m.shape) for m in scores] == [(2, classes, *hw) for hw in levels]
        assert [tuple(m.shape) for m in boxes] == [(2, 4, *hw) for hw in levels]
        assert [tuple(m.shape) for m in centerness] == [(2, 1, *hw) for hw in levels]
        total = sum(m.float().mean() for m in (*scores, *boxes, *centerness))
    else:
        # An embedding model's width is its head's embedding (or projection) size.
        width = {
            "representation": config.model.head.params.get("embedding_dim"),
            "self_supervised": config.model.head.params.get("out_dim"),
        }.get(task, classes)
        expected = (2, width, size, size) if task == "segmentation" else (2, width)
        assert outputs.shape == expected
        total = outputs.float().mean()
    total.backward()
    assert all(p.grad is not None for p in model.head.parameters())
