"""The unfreeze schedule end to end: a generated project trains 2 short epochs.

The project's own trainer (``build_trainer``, with its ``UnfreezeSchedule``) fits
on a few sample images; a probe callback records, per epoch, which backbone
weights train and the optimizer's param groups, and the test checks them
against the generated config's ``unfreeze`` entry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from okgen.cli import app

PROBE = """
import json, sys
from pathlib import Path

import lightning as L
import torch
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader, Subset

from {package}.build import build_data, build_task
from {package}.config import load_config
from {package}.data import write_sample_data
from {package}.trainer import build_trainer

root, runs, report = (Path(arg) for arg in sys.argv[1:])
config = load_config(Path("configs/train.yaml"))
write_sample_data(config.data, config.model.num_classes, root)
config = load_config(Path("configs/train.yaml"), [
    f"data.root={{root}}", f"run_dir={{runs}}", "data.batch_size=4", "data.num_workers=0",
    "trainer.max_epochs=2", "trainer.accelerator=cpu", "trainer.devices=1",
    "trainer.precision=32-true",
])


class Probe(L.Callback):
    # Backbone weights other than BatchNorm (train_bn may let those train while frozen).
    def weights(self, task):
        return {{
            f"{{module_name}}.{{name}}": param
            for module_name, module in task.model.backbone.named_modules()
            if not isinstance(module, _BatchNorm)
            for name, param in module.named_parameters(recurse=False)
        }}

    def on_train_epoch_start(self, trainer, task):
        self.before = {{name: p.detach().clone() for name, p in self.weights(task).items()}}

    def on_train_batch_end(self, trainer, task, outputs, batch, batch_idx):
        weights = {{id(p) for p in self.weights(task).values()}}
        self.groups = [
            {{"lr": g["lr"], "initial_lr": g.get("initial_lr"),
              "backbone": sum(id(p) in weights for p in g["params"]), "size": len(g["params"])}}
            for g in trainer.optimizers[0].param_groups
        ]

    def on_train_epoch_end(self, trainer, task):
        weights = self.weights(task)
        epochs.append({{
            "requires_grad": sorted({{p.requires_grad for p in weights.values()}}),
            "changed": sum(not torch.equal(self.before[n], p) for n, p in weights.items()),
            "weights": len(weights),
            "groups": self.groups,
        }})


epochs = []
L.seed_everything(0)
task, data = build_task(config), build_data(config)
data.setup("fit")
train = DataLoader(Subset(data.datasets["train"], range(8)), batch_size=4, shuffle=True)
val = DataLoader(Subset(data.datasets["val"], range(4)), batch_size=4)
trainer = build_trainer(config)
trainer.callbacks.append(Probe())
trainer.fit(task, train_dataloaders=train, val_dataloaders=val)
Path(report).write_text(json.dumps({{"epochs": epochs, "lr": config.optimizer.lr}}))
"""


@pytest.mark.e2e
def test_backbone_is_frozen_in_epoch_0_and_trains_from_epoch_1(tmp_path: Path) -> None:
    flags = ["--unfreeze-epoch", "1", "--backbone", "resnet18"]
    result = CliRunner().invoke(app, ["new", "sched", "--yes", "-o", str(tmp_path), *flags])
    assert result.exit_code == 0, result.output
    project = tmp_path / "sched"
    (schedule,) = yaml.safe_load((project / "configs" / "train.yaml").read_text())["unfreeze"]
    assert schedule["module"] == "model.backbone" and schedule["epoch"] == 1

    (project / "probe.py").write_text(PROBE.format(package="sched"))
    report = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    args = [str(tmp_path / "data"), str(tmp_path / "runs"), str(report)]
    run = subprocess.run(
        [sys.executable, "probe.py", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    observed = json.loads(report.read_text())
    frozen, thawed = observed["epochs"]

    assert frozen["requires_grad"] == [False]
    assert frozen["changed"] == 0
    assert not any(group["backbone"] for group in frozen["groups"])

    assert thawed["requires_grad"] == [True]
    assert thawed["changed"] == thawed["weights"]
    new = [group for group in thawed["groups"] if group["backbone"]]
    assert new and all(group["backbone"] == group["size"] for group in new)
    assert sum(group["backbone"] for group in new) == thawed["weights"]
    base = thawed["groups"][0]
    for group in new:  # lr * lr_factor, then driven by the schedule like the others
        assert group["initial_lr"] == pytest.approx(observed["lr"] * schedule["lr_factor"])
        assert group["lr"] == pytest.approx(base["lr"] * schedule["lr_factor"])
