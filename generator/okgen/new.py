"""``okgen new``: answers in, a complete project out, written atomically."""

from __future__ import annotations

from pathlib import Path

from . import __version__
from .answers import Answers, Choices, package_name
from .catalogue import Catalogue, load_catalogue
from .manifest import Manifest
from .plan import chosen_components, make_plan
from .questions import Ask, resolve_answers
from .render import ensure_free, render_files, template_data, write_new_project


def create_project(name: str, given: Choices, *, output_dir: Path, ask: Ask | None) -> Path:
    """Validate everything, render into a staging folder, then move it into place."""
    package = package_name(name)
    target = output_dir / name
    ensure_free(target)  # before rendering, so a taken name fails fast
    catalogue = load_catalogue()
    answers = resolve_answers(catalogue, given, ask)
    files, manifest = render_project(catalogue, answers, name=name, package=package)
    return write_new_project(target, files, manifest)


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
    )
    manifest.record(files, origins)
    return files, manifest
