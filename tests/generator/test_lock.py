"""The project lock: okgen commands on one project run one after the other, never interleaved."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from okgen import project as project_module
from okgen.project import project_lock

from .projects import assert_provenance_consistent, manifest_of, okgen, snapshot

PKG = "src/demo"

#: Widens the race: each process holds its read of the project for a second before writing.
SLOW_MERGE = """
import time
import okgen.add as add
plan_merge = add.plan_merge
def slow_plan_merge(*args):
    result = plan_merge(*args)
    time.sleep(1.0)
    return result
add.plan_merge = slow_plan_merge
"""


def start_okgen(project: Path, args: list[str], patch: str = "") -> subprocess.Popen:
    """okgen in its own process, in ``project``, after ``patch`` (Python code) ran."""
    script = "\n".join(
        [
            textwrap.dedent(patch),
            "import sys",
            "from okgen.cli import app",
            f"sys.argv = ['okgen', *{args!r}]",
            "app()",
        ]
    )
    return subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_parallel_adds_both_land(project: Path) -> None:
    runs = [
        start_okgen(project, ["add-loss", name], SLOW_MERGE)
        for name in ("focal", "label_smoothing")
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert any("waiting for another okgen command" in err for _, err in outputs)
    components = manifest_of(project)["components"]
    assert "losses/focal" in components and "losses/label_smoothing" in components
    losses = (project / PKG / "losses.py").read_text()
    assert '"focal": FocalLoss' in losses and '"label_smoothing": LabelSmoothing' in losses
    for name in ("focal", "label_smoothing"):
        assert f"{PKG}/components/losses/{name}.py" in manifest_of(project)["files"]
    assert_provenance_consistent(project)


def test_a_command_that_cannot_get_the_lock_refuses_clearly(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(project_module, "LOCK_WAIT_S", 0.3)
    before = snapshot(project)
    with project_lock(project):  # another okgen command, busy with this project
        for command in (["add-loss", "focal"], ["update"], ["diff"], ["repair-base"]):
            code, _, err = okgen(*command)
            assert code == 1, command
            assert err.strip().splitlines()[-1] == (
                f"error: another okgen command is still changing {project} after 0.3 s "
                f"(it holds {project}/.okgen/lock); run this one again when it has finished"
            )
    assert snapshot(project) == before
    assert okgen("add-loss", "focal")[0] == 0  # released with the block


def test_the_lock_is_released_when_its_holder_dies(project: Path) -> None:
    holder = start_okgen(
        project,
        ["add-loss", "focal"],
        "import os, signal, okgen.add as add\n"
        "add.plan_merge = lambda *a: os.kill(os.getpid(), signal.SIGKILL)",
    )
    holder.communicate(timeout=120)
    assert holder.returncode == -9
    with project_lock(project, wait=0):
        pass
