"""A generated project on disk: open it safely and render it again with more or newer parts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .answers import Answers, recorded_answers
from .catalogue import Catalogue
from .manifest import Manifest, find_project, read_manifest
from .new import render_project
from .plan import chosen_components
from .transaction import recover


@dataclass(frozen=True)
class Project:
    root: Path
    manifest: Manifest
    notes: tuple[str, ...] = ()  # what opening it had to do, for the user

    @property
    def answers(self) -> Answers:
        return recorded_answers(self.manifest.answers, self.manifest.answers_version, "answers")

    @property
    def task_answers(self) -> dict[str, Answers]:
        version = self.manifest.answers_version
        return {
            task: recorded_answers(raw, version, f"task_answers.{task}")
            for task, raw in self.manifest.task_answers.items()
        }


def open_project(start: Path) -> Project:
    """The project around ``start``, after rolling back any okgen run that was interrupted."""
    root = find_project(start)
    restored = recover(root)
    notes = ()
    if restored:
        notes = (f"rolled back an interrupted okgen run ({restored} files restored)",)
    return Project(root, read_manifest(root), notes)


def render_all(
    catalogue: Catalogue,
    project: Project,
    *,
    components: Iterable[str],
    tasks: list[str],
    task_answers: dict[str, Answers],
) -> tuple[dict[str, bytes], Manifest]:
    """Every file of ``project`` with ``components`` and ``tasks``, rendered by this okgen.

    ``configs/train.yaml`` is rendered from the project's answers; each task in
    ``task_answers`` gets its own ``configs/<task>.yaml`` from the same template.
    Every render sees the same components and tasks, so the glue is identical.
    """
    answers = project.answers
    keys = set(components)
    for each in (answers, *task_answers.values()):
        keys |= {c.key for c in chosen_components(catalogue, each)}
    extra = tuple(sorted(keys))
    name, package = project.manifest.project_name, project.manifest.package_name
    files, manifest = render_project(
        catalogue, answers, name=name, package=package, extra=extra, tasks=tasks
    )
    origins = {path: record["origin"] for path, record in manifest.files.items()}
    for task, task_answer in task_answers.items():
        task_files, _ = render_project(
            catalogue, task_answer, name=name, package=package, extra=extra, tasks=tasks
        )
        files[f"configs/{task}.yaml"] = task_files["configs/train.yaml"]
        origins[f"configs/{task}.yaml"] = "template"
    manifest.record(files, origins)
    manifest.task_answers = {task: a.model_dump() for task, a in task_answers.items()}
    return files, manifest
