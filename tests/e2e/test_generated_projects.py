"""Generated projects end to end: rendered, linted, and their own tests run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from okgen.catalogue import load_catalogue
from okgen.cli import app

CATALOGUE = load_catalogue()
RUFF = [sys.executable, "-m", "ruff"]
RESIDUE = re.compile(r"\{\{|\}\}|\{%|%\}|\{#")

#: Projects whose own test suites run: every task, several backbone families and
#: every dataset format, neck, head, pooling and loss at least once; the unfreeze
#: schedule, EMA and ONNX export together and each without the others.
PROJECTS = {
    "classification_default": [],
    "classification_csv": [
        "--dataset-format",
        "csv",
        "--pooling",
        "gem",
        "--loss",
        "label_smoothing",
        "--loss",
        "focal",
        "--backbone",
        "efficientnet_b0",
        "--unfreeze-epoch",
        "1",
        "--callback",
        "ema",
        "--callback",
        "onnx_export",
    ],
    "segmentation_default": ["--task", "segmentation", "--callback", "ema"],
    "segmentation_unet_csv": [
        "--task",
        "segmentation",
        "--neck",
        "unet",
        "--dataset-format",
        "mask_csv",
        "--loss",
        "jaccard",
        "--loss",
        "lovasz",
        "--loss",
        "focal",
        "--backbone",
        "convnext_atto",
    ],
    "segmentation_hrnet": [
        "--task",
        "segmentation",
        "--neck",
        "hrnet",
        "--backbone",
        "hrnet_w18_small",
    ],
    "multilabel_default": [
        "--task",
        "multilabel",
        "--pooling",
        "avgmax",
        "--callback",
        "onnx_export",
    ],
    "self_supervised_default": ["--task", "self_supervised"],
    "multilabel_onehot": [
        "--task",
        "multilabel",
        "--dataset-format",
        "onehot_csv",
        "--pooling",
        "max",
        "--loss",
        "asymmetric",
        "--loss",
        "focal_bce",
    ],
    "detection_default": ["--task", "detection"],
    "detection_yolo": [
        "--task",
        "detection",
        "--dataset-format",
        "yolo",
        "--callback",
        "ema",
        "--callback",
        "onnx_export",
    ],
    "representation_default": ["--task", "representation"],
}


def generate(tmp_path: Path, name: str, flags: list[str]) -> Path:
    result = CliRunner().invoke(app, ["new", name, "--yes", "-o", str(tmp_path), *flags])
    assert result.exit_code == 0, result.output
    return tmp_path / name


def assert_clean(project: Path) -> None:
    """ruff-clean and no template residue in any generated text file."""
    subprocess.run([*RUFF, "check", "--quiet", str(project)], check=True)
    subprocess.run([*RUFF, "format", "--check", "--quiet", str(project)], check=True)
    for path in project.rglob("*"):
        if (
            path.is_file()
            and ".okgen" not in path.parts
            and path.suffix in {".py", ".toml", ".yaml"}
        ):
            assert not RESIDUE.search(path.read_text()), f"template residue in {path}"


def test_every_component_renders_clean(tmp_path: Path) -> None:
    """Each catalogue choice of each task, in turn, renders a ruff-clean project."""
    variants: list[list[str]] = []
    for task in CATALOGUE.tasks:
        base = ["--task", task]
        variants += [[*base, "--backbone", name] for name in CATALOGUE.backbone_models]
        for flag, kind in [
            ("--neck", "necks"),
            ("--pooling", "poolings"),
            ("--loss", "losses"),
            ("--dataset-format", "datasets"),
        ]:
            for name in CATALOGUE.for_task(kind, task):
                if kind == "poolings" and CATALOGUE.tasks[task].defaults["pooling"] is None:
                    continue
                variants.append([*base, flag, name])
    for index, flags in enumerate(variants):
        assert_clean(generate(tmp_path, f"p{index}", flags))


@pytest.mark.e2e
@pytest.mark.parametrize("name", list(PROJECTS))
def test_generated_project_passes_its_own_tests(tmp_path: Path, name: str) -> None:
    project = generate(tmp_path, name, PROJECTS[name])
    assert_clean(project)
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
