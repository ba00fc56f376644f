"""Render a project's files: copier for the glue, byte copies for the components."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from . import __version__
from ._resources import LIBRARY, TEMPLATES
from .answers import Answers
from .catalogue import Catalogue
from .errors import TargetExistsError
from .manifest import Manifest, provenance_files
from .plan import Plan

COMPONENTS_DIR = "components"


def template_data(
    catalogue: Catalogue,
    answers: Answers,
    plan: Plan,
    *,
    project_name: str,
    package: str,
    tasks: list[str],
) -> dict[str, Any]:
    """Everything the copier template renders from."""
    components: dict[str, list[dict[str, str | None]]] = {k: [] for k in catalogue.components}
    for c in plan.components:
        components[c.kind].append(
            # output/input: the neck/head shape contract, which the project checks too
            dict(name=c.name, module=c.module, symbol=c.symbol, output=c.output, input=c.input)
        )
    return {
        **answers.model_dump(),
        "project_name": project_name,
        "package_name": package,
        "okgen_version": __version__,
        "tasks": tasks,
        "monitor": catalogue.task(answers.task).monitor,
        "components": components,
        "requirements": list(plan.requirements),
    }


def render_files(data: dict[str, Any], plan: Plan) -> tuple[dict[str, bytes], dict[str, str]]:
    """Every file okgen writes for this plan, as ``(path -> bytes, path -> origin)``.

    ``data`` is what ``template_data`` returns for the same plan.
    """
    from copier import run_copy  # imported here: it is the slowest import on the CLI path

    files: dict[str, bytes] = {}
    origins: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="okgen-render-") as tmp:
        run_copy(
            str(TEMPLATES),
            tmp,
            data=data,
            defaults=True,
            unsafe=False,
            quiet=True,
            overwrite=True,
            vcs_ref=None,
        )
        format_python(Path(tmp))
        for path in sorted(Path(tmp).rglob("*")):
            if path.is_file():
                rel = path.relative_to(tmp).as_posix()
                files[rel] = path.read_bytes()
                origins[rel] = "template"
    vendored = f"src/{data['package_name']}/{COMPONENTS_DIR}"
    for folder in sorted({".", *(str(PurePosixPath(f).parent) for f in plan.files)}):
        init = PurePosixPath(vendored, folder, "__init__.py").as_posix()
        files[init] = b""
        origins[init] = "package"
    for rel in plan.files:
        files[f"{vendored}/{rel}"] = (LIBRARY / rel).read_bytes()
        origins[f"{vendored}/{rel}"] = f"library:{rel}"
    return files, origins


def format_python(root: Path) -> None:
    """Sort imports and format the rendered glue with ruff, as STYLE.md asks.

    Templates then stay readable (loops and conditionals where they help) while
    the output is exactly what ``ruff format`` would write.
    """
    from ruff.__main__ import find_ruff_bin

    ruff = find_ruff_bin()
    for command in (["check", "--select", "I", "--fix"], ["format"]):
        subprocess.run(
            [ruff, *command, "--quiet", "--no-cache", str(root)], check=True, capture_output=True
        )


def ensure_free(target: Path) -> None:
    """Refuse a target that exists and is not an empty folder."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise TargetExistsError(f"{target} already exists and is not empty")


def write_new_project(target: Path, files: dict[str, bytes], manifest: Manifest) -> Path:
    """Write a whole project atomically: into a sibling temp dir, then one rename."""
    ensure_free(target)  # again: the folder may have been filled while we rendered
    target.parent.mkdir(parents=True, exist_ok=True)
    with _staging_dir(target.parent) as staging:
        for path, data in {**files, **provenance_files(manifest, files)}.items():
            destination = staging / path
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(data)
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    return target


@contextmanager
def _staging_dir(parent: Path) -> Iterator[Path]:
    staging = Path(tempfile.mkdtemp(prefix=".okgen-staging-", dir=parent))
    try:
        yield staging
    finally:
        if staging.exists():
            shutil.rmtree(staging)
