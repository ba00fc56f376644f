"""The default self-supervised project learns features that separate classes it never saw.

``okgen new --task self_supervised --yes`` is rendered, writes its sample data and
pretrains once with its own defaults (a module fixture). The frozen features of the
best checkpoint, and of the same network at its seeded random initialisation, are
scored on the labelled val split by the project's own probe (weighted kNN and a linear
classifier, fit on one half of the split and scored on the other): pretraining must
lift both by at least 0.2. Opt-in (``pytest -m slow``): the pretraining takes minutes
on a CPU. Run with ``-s`` to see the figures and times.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from okgen.cli import app

from .test_representation_learns import run

NAME = "pre"
LIFT = 0.2

#: The probe of the network at its seeded random initialisation, as ``linear-probe`` runs it.
UNTRAINED = f"""
import json
import lightning as L
from {NAME}.build import build_data, build_task
from {NAME}.config import load_config

config = load_config("configs/train.yaml")
L.seed_everything(config.trainer.seed)
task, data = build_task(config), build_data(config)
data.setup("validate")
probe = task.probe(data.datasets["val"], config.model.num_classes, config.data.batch_size)
print(json.dumps(probe))
"""


def last_json(stdout: str) -> dict[str, float]:
    """The JSON object a command prints last (it may print other lines before it)."""
    return json.loads(stdout[stdout.rindex("{") :])


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, float]]:
    """The default project pretrained once: the probes of its best checkpoint and of the
    untrained network, and the wall seconds of pretraining."""
    root = tmp_path_factory.mktemp("self_supervised")
    result = CliRunner().invoke(
        app, ["new", NAME, "--task", "self_supervised", "--yes", "-o", str(root)]
    )
    assert result.exit_code == 0, result.output
    project = root / NAME
    run(project, "-m", NAME, "sample-data")
    _, seconds = run(project, "-m", NAME, "train")
    trained, _ = run(project, "-m", NAME, "linear-probe")
    untrained, _ = run(project, "-c", UNTRAINED)
    return {
        "trained": last_json(trained),
        "untrained": last_json(untrained),
        "train": {"seconds": seconds},
    }


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("metric", ["knn/top1", "linear_probe/top1"])
def test_pretraining_lifts_frozen_features(
    probes: dict[str, dict[str, float]], metric: str
) -> None:
    trained, untrained = probes["trained"][metric], probes["untrained"][metric]
    print(
        f"\n{metric}: pretrained {trained:.3f}, random init {untrained:.3f} "
        f"(pretraining {probes['train']['seconds']:.0f} s wall)"
    )
    assert trained >= untrained + LIFT
