"""``okgen add``: vendor one more component into an existing project, keeping every edit.

The project is rendered again with the bigger component set (so the glue and
``pyproject.toml`` list it) and brought there by the merge engine. A component
of a task the project does not have yet brings that task along: its task
module, metrics, the task's default parts and a ready ``configs/<task>.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .answers import Answers, backbone_note, check_compatible, defaults
from .catalogue import SINGULAR, Catalogue, Component, load_catalogue, resolve_kind, timm_models
from .errors import IncompatibleChoiceError, UnknownComponentError
from .merge import MergeResult, apply_merge, plan_merge
from .project import Project, locked_project, render_all
from .questions import QUESTIONS
from .render import flow_yaml

#: The question that names components of each kind: necks -> neck, losses -> losses.
ASKED_BY = {q.kind: q for q in QUESTIONS if q.kind is not None}


@dataclass(frozen=True)
class Added:
    component: Component
    project: Project
    catalogue: Catalogue
    already: bool = False
    new_task: str | None = None
    result: MergeResult | None = None  # None when there was nothing to do
    model: str | None = None  # a backbone named by its timm model

    @property
    def task(self) -> str:
        """The task whose config selects it: the project's, unless it suits only another."""
        tasks = self.component.tasks
        if self.new_task is not None:
            return self.new_task
        if not tasks or self.project.answers.task in tasks:
            return self.project.answers.task
        return next(t for t in self.project.manifest.tasks if t in tasks)

    @property
    def config(self) -> str:
        """train.yaml, or the config of the task added later that it suits."""
        if self.task == self.project.answers.task:
            return "configs/train.yaml"
        return f"configs/{self.task}.yaml"

    @property
    def snippet(self) -> str | None:
        answers = self.project.answers
        return config_snippet(self.catalogue, self.component, answers, self.task, model=self.model)

    @property
    def notes(self) -> tuple[str, ...]:
        notes = self.project.notes
        package = self.project.manifest.package_name
        if self.model is not None and (note := backbone_note(self.catalogue, self.model, package)):
            notes = (*notes, note)
        made_by = self.project.manifest.okgen_version
        if self.already or made_by == __version__:
            return notes
        return (
            *notes,
            f"okgen {made_by} made this project; okgen {__version__} renders it now, "
            "so its template changes come along (as `okgen update` would bring them)",
        )


def find_component(catalogue: Catalogue, kind: str, name: str) -> tuple[Component, str | None]:
    """The component ``kind name`` means; a backbone may be named by any timm model."""
    kind = resolve_kind(kind)
    backbones = catalogue.components["backbones"]
    if kind == "backbones" and name not in backbones:
        if name not in catalogue.backbone_models and name not in timm_models():
            valid = [*backbones, *catalogue.backbone_models]
            raise UnknownComponentError("backbone", name, valid, close=[*valid, *timm_models()])
        return backbones["timm"], name
    return catalogue.get(kind, name), None


def add_component(
    start: Path, kind: str, name: str, *, task: str | None = None, dry_run: bool = False
) -> Added:
    """Add ``kind/name`` (and its dependency closure) to the project around ``start``."""
    catalogue = load_catalogue()
    component, model = find_component(catalogue, kind, name)
    with locked_project(start) as project:  # held until the last byte is written
        manifest = project.manifest
        new_task = task_to_add(catalogue, component, manifest.tasks, task)
        if component.key in manifest.components and new_task is None:
            return Added(component, project, catalogue, already=True, model=model)
        task_answers = project.task_answers
        tasks = list(manifest.tasks)
        if new_task is not None:
            task_answers[new_task] = answers_for_task(
                catalogue, project.answers, new_task, component
            )
            tasks.append(new_task)
        files, new_manifest = render_all(
            catalogue,
            project,
            components=[*manifest.components, component.key],
            tasks=tasks,
            task_answers=task_answers,
        )
        result = plan_merge(project.root, manifest, files)
        if not dry_run:
            apply_merge(project.root, manifest, result, files, new_manifest)
        return Added(component, project, catalogue, new_task=new_task, result=result, model=model)


def task_to_add(
    catalogue: Catalogue, component: Component, tasks: list[str], wanted: str | None
) -> str | None:
    """The task ``component`` brings, or None when it fits one the project has.

    ``wanted`` (``--task``) picks among the component's tasks; without it a
    component that fits none of the project's tasks brings the first it suits.
    """
    if wanted is not None:
        catalogue.task(wanted)
        if component.tasks and wanted not in component.tasks:
            raise IncompatibleChoiceError(
                f"{SINGULAR[component.kind]} {component.name!r} does not fit task {wanted!r}; "
                f"it suits {', '.join(component.tasks)}"
            )
        return None if wanted in tasks else wanted
    if not component.tasks or set(component.tasks) & set(tasks):
        return None
    return component.tasks[0]


def answers_for_task(
    catalogue: Catalogue, answers: Answers, task: str, component: Component
) -> Answers:
    """The project's answers with ``task``'s defaults, and ``component`` where it is named."""
    task_defaults = defaults(catalogue, task)
    update = {"task": task, **{q.key: task_defaults[q.key] for q in QUESTIONS if q.per_task}}
    question = ASKED_BY.get(component.kind)
    if question is not None and not component.core:
        current = update.get(question.key, getattr(answers, question.key))
        if not question.many:
            update[question.key] = component.name
        elif component.name not in current:
            update[question.key] = [*current, component.name]
    task_answers = Answers.model_validate(answers.model_dump() | update)
    check_compatible(catalogue, task_answers)
    return task_answers


def config_snippet(
    catalogue: Catalogue,
    component: Component,
    answers: Answers,
    task: str,
    *,
    model: str | None = None,
) -> str | None:
    """The YAML that selects ``component`` in a config of ``task``; None for core parts."""
    name = component.name
    if component.kind == "backbones":
        return f"model:\n  backbone:\n    name: {model or answers.backbone}"
    if component.core:
        return None
    params = flow_yaml(catalogue.example(component, task))
    if component.kind in ("necks", "poolings", "heads"):
        slot = ASKED_BY[component.kind].key
        return f"model:\n  {slot}:\n    name: {name}\n    params: {params}"
    if component.kind == "losses":
        return f"losses:\n  - name: {name}\n    weight: 1.0\n    params: {params}"
    if component.kind == "metrics":
        return f"task: {name}"
    if component.kind == "datasets":
        return f"data:\n  format: {name}"
    if component.kind == "callbacks":
        return f"callbacks:\n  {name}: {params}"
    return None
