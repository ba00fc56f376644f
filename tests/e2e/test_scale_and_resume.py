"""DDP and kill-and-resume in a generated project of each task (opt-in: ``pytest -m slow``).

Each project runs its own ``slow`` tests: a DDP fit on two CPU processes (gloo) whose
validation metrics equal one process validating the DDP checkpoint, and a run killed
with SIGKILL mid-epoch that ``resume=last`` finishes as the same run on the same
learning-rate and unfreeze schedule. 60-80 s a task, 7.3 min for all six on two busy
cores, so they stay out of the default run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from okgen.catalogue import load_catalogue

from .test_generated_projects import generate


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("task", list(load_catalogue().tasks))
def test_project_trains_under_ddp_and_resumes_after_a_kill(tmp_path: Path, task: str) -> None:
    project = generate(tmp_path, f"{task}_project", ["--task", task])
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "slow"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 passed," in result.stdout, result.stdout[-2000:]  # the DDP and the kill test
