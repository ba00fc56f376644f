"""A trained run stays usable after configs/train.yaml changes: checkpoints carry their config.

Train briefly, then change the backbone and num_classes in the config file. Testing,
predicting and exporting the earlier run must give the numbers from before the edit,
and ``Task.load_from_checkpoint`` must work with no config file at all.
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from typer.testing import CliRunner

from okgen.cli import app

PACKAGE = "selfdescribing"
EVAL = ["data.num_workers=0", "data.batch_size=8", "trainer.accelerator=cpu"]
TRAIN = [*EVAL, "trainer.max_epochs=1", "trainer.precision=32-true", "data.image_size=32"]


def shrink(root: Path, keep: int) -> None:
    """Keep the first ``keep`` images of each class folder, so one epoch takes seconds."""
    for folder in sorted(path for path in root.glob("*/*") if path.is_dir()):
        for image in sorted(folder.iterdir())[keep:]:
            image.unlink()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    result = CliRunner().invoke(app, ["new", PACKAGE, "--yes", "-o", str(root)])
    assert result.exit_code == 0, result.output
    sys.path.insert(0, str(root / PACKAGE / "src"))
    return root / PACKAGE


def run(project: Path, *argv: str) -> None:
    cli = importlib.import_module(f"{PACKAGE}.cli")
    assert cli.main(["-c", str(project / "configs" / "train.yaml"), *argv]) == 0


@pytest.mark.e2e
def test_an_earlier_run_evaluates_the_same_after_the_config_changes(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    run(project, "sample-data", "data.image_size=32")
    shrink(project / "data" / "sample", keep=6)
    run(project, "train", *TRAIN)
    (version,) = (project / "runs" / PACKAGE).glob("version_*")
    best = version / "checkpoints" / "best.ckpt"
    assert (version / "curves.png").is_file()

    def evaluate() -> tuple[dict[str, float], str, np.ndarray]:
        for verb in ("test", "predict", "export"):
            run(project, verb, *EVAL)
        metrics = json.loads((version / "test" / "metrics.json").read_text())
        predictions = (version / "predict" / "predictions.csv").read_text()
        for picture in ("test/confusion_matrix.png", "predict/predictions.png"):
            assert (version / picture).is_file(), picture
        session = onnxruntime.InferenceSession(str(version / "export" / "model.onnx"))
        logits = session.run(None, {session.get_inputs()[0].name: images})[0]
        for output in ("test", "predict", "export"):
            shutil.rmtree(version / output)
        return metrics, predictions, logits

    images = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    before = evaluate()
    assert before[2].shape == (2, 4)

    config = project / "configs" / "train.yaml"
    text = config.read_text()
    assert "name: resnet18" in text and "num_classes: 4" in text
    config.write_text(
        text.replace("name: resnet18", "name: efficientnet_b0").replace(
            "num_classes: 4", "num_classes: 7"
        )
    )
    after = evaluate()

    assert after[0] == pytest.approx(before[0], abs=1e-6)
    assert after[1] == before[1]
    np.testing.assert_allclose(after[2], before[2], atol=1e-6)

    # A notebook: no config file, no command line.
    config.unlink()
    tasks = importlib.import_module(f"{PACKAGE}.tasks")
    task = tasks.ClassificationTask.load_from_checkpoint(best).eval()
    with torch.no_grad():
        logits = task(torch.from_numpy(images))
    np.testing.assert_allclose(logits.numpy(), before[2], atol=1e-4)
