"""``okgen new``: answers in, a complete project out, written atomically."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from . import __version__
from .answers import Answers, Ask, Choices, backbone_note, package_name, resolve_answers
from .catalogue import Catalogue, load_catalogue
from .errors import DeclinedError, TargetError
from .manifest import Manifest
from .plan import chosen_components, make_plan
from .questions import ANSWERS_VERSION
from .render import ensure_free, render_files, template_data, write_new_project


@dataclass(frozen=True)
class Created:
    root: Path
    notes: tuple[str, ...]  # warnings for the user, e.g. an untested backbone


def create_project(
    name: str,
    given: Choices,
    *,
    output_dir: Path,
    ask: Ask | None,
    confirm: Callable[[Answers], bool] | None = None,
) -> Created:
    """Validate everything, render into a staging folder, then move it into place.

    ``confirm`` sees the complete answers before anything is written; False stops there.
    """
    package = package_name(name)
    target = output_dir / name
    with _writing(target):
        check_output_dir(output_dir)
        ensure_free(target)  # before rendering, so a taken name fails fast
    catalogue = load_catalogue()
    answers = resolve_answers(catalogue, given, ask)
    if confirm is not None and not confirm(answers):
        raise DeclinedError(f"not confirmed: nothing was written, {target} was not created")
    files, manifest = render_project(catalogue, answers, name=name, package=package)
    with _writing(target):
        root = write_new_project(target, files, manifest)
    note = backbone_note(catalogue, answers.backbone, package)
    return Created(root, (note,) if note else ())


def check_output_dir(output_dir: Path) -> None:
    """Refuse, before any work, a folder the project cannot be written into."""
    if output_dir.is_symlink() and not output_dir.exists():
        target = os.readlink(output_dir)
        raise TargetError(f"output folder {output_dir} is a symlink to nothing ({target})")
    existing = next(p for p in (output_dir, *output_dir.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise TargetError(f"output folder {output_dir}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise TargetError(f"output folder {output_dir}: {existing} is not writable")


@contextmanager
def _writing(target: Path) -> Iterator[None]:
    """The file system's refusals (read-only, /proc, name too long) as one-line errors."""
    try:
        yield
    except OSError as error:
        raise TargetError(f"cannot write {target}: {error.strerror or error}") from None


def render_project(
    catalogue: Catalogue,
    answers: Answers,
    *,
    name: str,
    package: str,
    extra: tuple[str, ...] = (),
    tasks: list[str] | None = None,
) -> tuple[dict[str, bytes], Manifest]:
    """All files of a project plus its manifest; ``extra`` adds components by key."""
    components = chosen_components(catalogue, answers)
    components += [catalogue.get(*key.split("/")) for key in extra]
    plan = make_plan(catalogue, components)
    tasks = tasks or [answers.task]
    data = template_data(catalogue, answers, plan, project_name=name, package=package, tasks=tasks)
    files, origins = render_files(data, plan)
    manifest = Manifest(
        okgen_version=__version__,
        answers=answers.model_dump(),
        project_name=name,
        package_name=package,
        tasks=tasks,
        components=[c.key for c in plan.components],
        answers_version=ANSWERS_VERSION,
        formatter=formatter(),
    )
    manifest.record(files, origins)
    return files, manifest


def formatter() -> str:
    """The formatter that shapes the glue, pinned in okgen's requirements: ``ruff X.Y.Z``."""
    return f"ruff {version('ruff')}"
