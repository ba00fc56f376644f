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
from .answers import Answers, check_compatible, task_defaults
from .catalogue import SINGULAR, Catalogue, Component, load_catalogue, resolve_kind
from .errors import IncompatibleChoiceError, UnknownComponentError
from .merge import MergeResult, apply_merge, plan_merge
from .project import Project, open_project, render_all

#: The answer a component of each kind fills in the config of a task it brings.
SLOTS = {"necks": "neck", "poolings": "pooling", "heads": "head", "datasets": "dataset_format"}
#: Answers that belong to a task; the others (backbone, image size, ...) are project-wide.
TASK_KEYS = ("neck", "pooling", "head", "losses", "dataset_format", "num_classes")


@dataclass(frozen=True)
class Added:
    component: Component
    project: Project
    already: bool = False
    new_task: str | None = None
    result: MergeResult | None = None  # None when there was nothing to do
    model: str | None = None  # a backbone named by its timm model

    @property
    def config(self) -> str:
        """The config that selects it: train.yaml, unless it suits only a task added later."""
        tasks = self.component.tasks
        if self.new_task is not None:
            return f"configs/{self.new_task}.yaml"
        if not tasks or self.project.answers.task in tasks:
            return "configs/train.yaml"
        return f"configs/{next(t for t in self.project.manifest.tasks if t in tasks)}.yaml"

    @property
    def snippet(self) -> str | None:
        return config_snippet(self.component, self.project.answers, model=self.model)

    @property
    def notes(self) -> tuple[str, ...]:
        made_by = self.project.manifest.okgen_version
        if self.already or made_by == __version__:
            return self.project.notes
        return (
            *self.project.notes,
            f"okgen {made_by} made this project; okgen {__version__} renders it now, "
            "so its template changes come along (as `okgen update` would bring them)",
        )


def find_component(catalogue: Catalogue, kind: str, name: str) -> tuple[Component, str | None]:
    """The component ``kind name`` means; a backbone may be named by a timm model okgen tests."""
    kind = resolve_kind(kind)
    backbones = catalogue.components["backbones"]
    if kind == "backbones" and name not in backbones:
        if name not in catalogue.backbone_models:
            raise UnknownComponentError("backbone", name, [*backbones, *catalogue.backbone_models])
        return backbones["timm"], name
    return catalogue.get(kind, name), None


def add_component(
    start: Path, kind: str, name: str, *, task: str | None = None, dry_run: bool = False
) -> Added:
    """Add ``kind/name`` (and its dependency closure) to the project around ``start``."""
    catalogue = load_catalogue()
    component, model = find_component(catalogue, kind, name)
    project = open_project(start)
    manifest = project.manifest
    new_task = task_to_add(catalogue, component, manifest.tasks, task)
    if component.key in manifest.components and new_task is None:
        return Added(component, project, already=True, model=model)
    task_answers = project.task_answers
    tasks = list(manifest.tasks)
    if new_task is not None:
        task_answers[new_task] = answers_for_task(catalogue, project.answers, new_task, component)
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
    return Added(component, project, new_task=new_task, result=result)


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
    """The project's answers with ``task``'s defaults, and ``component`` in its slot."""
    defaults = task_defaults(catalogue, task)
    update = {"task": task, **{key: defaults[key] for key in TASK_KEYS}}
    if component.kind in SLOTS:
        update[SLOTS[component.kind]] = component.name
    elif component.kind == "losses" and component.name not in update["losses"]:
        update["losses"] = [*update["losses"], component.name]
    elif component.kind == "callbacks" and component.name not in answers.callbacks:
        update["callbacks"] = [*answers.callbacks, component.name]
    task_answers = Answers.model_validate(answers.model_dump() | update)
    check_compatible(catalogue, task_answers)
    return task_answers


def config_snippet(
    component: Component, answers: Answers, *, model: str | None = None
) -> str | None:
    """The YAML that selects ``component`` in a config, or None for parts every project uses."""
    name = component.name
    if component.kind == "backbones":
        return f"model:\n  backbone:\n    name: {model or answers.backbone}"
    if component.kind in ("necks", "poolings", "heads"):
        slot = SLOTS[component.kind]
        return f"model:\n  {slot}:\n    name: {name}\n    params: {{}}"
    if component.kind == "losses":
        return f"losses:\n  - name: {name}\n    weight: 1.0\n    params: {{}}"
    if component.kind == "metrics":
        return f"task: {name}"
    if component.kind == "datasets":
        return f"data:\n  format: {name}"
    if component.kind == "callbacks":
        if name == "unfreeze":
            stage = "{module: model.backbone, epoch: 5, lr_factor: 0.1, train_bn: true}"
            return f"unfreeze:\n  - {stage}"
        params = {"ema": "{decay: 0.999}", "onnx_export": f"{{image_size: {answers.image_size}}}"}
        return f"callbacks:\n  {name}: {params.get(name, '{}')}"
    return None
