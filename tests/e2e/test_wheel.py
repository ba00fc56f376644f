"""The wheel is self-contained: templates and component library ship inside it."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_installed_wheel_generates_a_project(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(REPO),
        ],
        check=True,
    )
    wheel = next(dist.glob("okgen-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "okgen/templates/copier.yml" in names
    assert "okgen/component_library/catalogue.yaml" in names
    assert "okgen/component_library/necks/fpn.py" in names
    assert "okgen/timm_models.txt" in names  # any timm name is accepted without timm

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheel)],
        check=True,
    )
    work = tmp_path / "elsewhere"  # no source tree in sight
    work.mkdir()
    subprocess.run([str(venv / "bin" / "okgen"), "new", "shipped", "--yes"], cwd=work, check=True)
    manifest = json.loads((work / "shipped" / ".okgen" / "manifest.json").read_text())
    library = [p for p, r in manifest["files"].items() if r["origin"].startswith("library:")]
    assert any(p.endswith("components/backbones/timm_backbone.py") for p in library)
    for path in library:
        origin = manifest["files"][path]["origin"].removeprefix("library:")
        shipped = (work / "shipped" / path).read_bytes()
        assert shipped == (REPO / "component_library" / origin).read_bytes()
