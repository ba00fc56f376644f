"""The cluster launchers: the SLURM script parses, and Docker installs as the README says."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SBATCH = ROOT / "scripts" / "slurm.sbatch"


def sbatch_options() -> dict[str, str]:
    """``#SBATCH --key=value`` lines of the batch script as ``{key: value}``."""
    return dict(re.findall(r"^#SBATCH --([\w-]+)=(\S+)", SBATCH.read_text(), flags=re.M))


def test_batch_script_is_valid_bash() -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.fail("bash is needed to check scripts/slurm.sbatch")
    result = subprocess.run([bash, "-n", str(SBATCH)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_batch_script_runs_one_ddp_task_per_gpu() -> None:
    options = sbatch_options()
    assert options["ntasks-per-node"] == options["gpus-per-node"]  # Lightning's SLURM contract
    command = SBATCH.read_text().split("\nsrun ", 1)[1]
    for override in (
        'trainer.num_nodes="${SLURM_JOB_NUM_NODES}"',
        "trainer.strategy=ddp",
        "trainer.devices=",
        '"$@"',
    ):
        assert override in command


def dockerfile_install() -> str:
    """The Dockerfile's ``pip install`` of the project itself (the one ending in ``.``)."""
    lines = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    installs = [
        line.removeprefix("RUN ").strip()
        for line in lines
        if line.startswith("RUN ") and re.search(r"pip install .* (-e )?\.(\[.*\])?$", line)
    ]
    assert len(installs) == 1, installs
    return " ".join(installs[0].split())


def test_dockerfile_installs_the_project_as_the_readme_says() -> None:
    readme_commands = {
        " ".join(code.split())
        for code in re.findall(r"`([^`\n]*pip install[^`\n]*)`", (ROOT / "README.md").read_text())
    }
    assert dockerfile_install() in readme_commands


def test_dockerfile_variants_pick_the_torch_index() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG TORCH_VARIANT=cpu$", text, flags=re.M)
    assert "download.pytorch.org/whl/${TORCH_VARIANT}" in text
    assert re.search(r'^CMD \["train"\]$', text, flags=re.M)
