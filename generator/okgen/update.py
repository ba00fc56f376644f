"""``okgen update``: bring a project to the installed okgen's templates and components.

The project's components, tasks and answers are rendered again by this okgen
and merged into the files on disk exactly as ``okgen add`` does, so edits
survive and overlapping changes become conflict blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .catalogue import load_catalogue
from .merge import MergeResult, apply_merge, plan_merge
from .project import Project, locked_project, render_all


@dataclass(frozen=True)
class Updated:
    project: Project
    old_version: str
    new_version: str
    result: MergeResult


def update_project(start: Path, *, dry_run: bool = False) -> Updated:
    """Re-render the project around ``start`` with this okgen and merge it in."""
    with locked_project(start) as project:  # held until the last byte is written
        manifest = project.manifest
        files, new_manifest = render_all(
            load_catalogue(),
            project,
            components=manifest.components,
            tasks=list(manifest.tasks),
            task_answers=project.task_answers,
        )
        result = plan_merge(project.root, manifest, files)
        if not dry_run:
            apply_merge(project.root, manifest, result, files, new_manifest)
        return Updated(project, manifest.okgen_version, new_manifest.okgen_version, result)
