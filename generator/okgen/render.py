"""Render a project's files: copier for the glue, byte copies for the components."""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from . import __version__
from . import files as fs
from ._copier import render
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
    """Everything the copier template renders from: the answers and what follows from them.

    Facts about components come from the catalogue, so no template tests a name.
    """
    values = answers.model_dump()
    components: dict[str, list[dict[str, Any]]] = {kind: [] for kind in catalogue.components}
    examples: dict[str, dict[str, str]] = {kind: {} for kind in catalogue.components}
    for c in plan.components:
        # output/input: the neck/head shape contract, which the project checks too
        fields = {
            "name": c.name,
            "module": c.module,
            "symbol": c.symbol,
            "core": c.core,
            "output": getattr(c, "output", None),
            "input": getattr(c, "input", None),
            "collate": getattr(c, "collate", None),
            "margin": getattr(c, "margin", False),
            "open_set": getattr(c, "open_set", False),
        }
        components[c.kind].append(fields)
        examples[c.kind][c.name] = flow_yaml(catalogue.example(c, answers.task))
    task = catalogue.task(answers.task)
    steps = task.train_augmentations
    return {
        **values,
        "train_augmentations": [flow_yaml(step) for step in steps] if steps else None,
        "batch_size": task.batch_size,
        "labelled": task.labelled,
        # Its outputs are classes worth naming (not identities of an open set, not a pretext).
        "names_classes": task.labelled
        and not catalogue.get("datasets", answers.dataset_format).open_set,
        "comments": task.comments,
        "memory": task.memory,
        "project_name": project_name,
        "package_name": package,
        "okgen_version": __version__,
        "tasks": tasks,
        "monitor": catalogue.task(answers.task).monitor,
        "augmentations": {
            key: flow_yaml(value) if isinstance(value, dict) else value
            for key, value in catalogue.task(answers.task).augmentations.items()
        },
        "components": components,
        "examples": examples,
        "predict_root": catalogue.get("datasets", answers.dataset_format).predict_root,
        "description_python": python_string(answers.description),
        "description_toml": json.dumps(answers.description, ensure_ascii=False),
        "requirements": list(plan.requirements),
    }


def flow_yaml(params: dict[str, Any]) -> str:
    """``{decay: 0.999}``: params as one line of YAML."""
    return yaml.safe_dump(params, default_flow_style=True, sort_keys=False, width=1 << 30).strip()


def python_string(text: str, width: int = 60) -> str:
    """``text`` as a Python expression whose lines stay short at any length.

    Long text becomes implicitly concatenated literals inside parentheses, which
    ``ruff format`` keeps one per line.
    """
    pieces: list[str] = []
    for word in re.findall(r"\S*\s*", text):
        for start in range(0, len(word), width) if word else ():
            chunk = word[start : start + width]
            if pieces and len(pieces[-1]) + len(chunk) <= width:
                pieces[-1] += chunk
            else:
                pieces.append(chunk)
    if len(pieces) <= 1:
        return repr(text)
    return "(\n" + "".join(f"    {piece!r}\n" for piece in pieces) + ")"


def render_files(data: dict[str, Any], plan: Plan) -> tuple[dict[str, bytes], dict[str, str]]:
    """Every file okgen writes for this plan, as ``(path -> bytes, path -> origin)``.

    ``data`` is what ``template_data`` returns for the same plan.
    """
    files: dict[str, bytes] = {}
    origins: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="okgen-render-") as tmp:
        render(TEMPLATES, Path(tmp), data)
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
    """Write a whole project atomically: into a sibling staging folder, then one rename.

    Staging folders that a killed ``okgen new`` left in the same parent are removed first.
    """
    ensure_free(target)  # again: the folder may have been filled while we rendered
    fs.mkdir(target.parent)
    remove_stale_staging(target.parent)
    with _staging_dir(target.parent) as staging:
        everything = {**files, **provenance_files(manifest, files)}
        for folder in sorted({(staging / path).parent for path in everything}):
            fs.mkdir(folder)
        for path, data in everything.items():
            fs.write(staging / path, data)
        if target.exists():
            fs.rmdir(target)
        fs.replace(staging, target)
    return target


STAGING_PREFIX = ".okgen-staging-"


def remove_stale_staging(parent: Path) -> None:
    """Delete staging folders no running ``okgen new`` holds (their lock died with it)."""
    for folder in parent.glob(f"{STAGING_PREFIX}*"):
        if folder.is_dir() and not folder.is_symlink():
            with _locked(folder, wait=False) as held:
                if held:
                    fs.rmtree(folder)


@contextmanager
def _staging_dir(parent: Path) -> Iterator[Path]:
    """A new folder next to the target, locked while this process fills it.

    It is made with ``mkdir`` (so it follows the umask, as the project folder
    must) and its lock is released however the process ends, even by SIGKILL.
    """
    staging = parent / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    fs.mkdir(staging)
    with _locked(staging, wait=True):
        try:
            yield staging
        finally:
            if staging.exists():
                fs.rmtree(staging)


@contextmanager
def _locked(folder: Path, *, wait: bool) -> Iterator[bool]:
    """flock ``folder`` itself; yields whether the lock is held (False: someone has it)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
        else:
            yield True
    finally:
        os.close(fd)
