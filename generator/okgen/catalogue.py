"""The component catalogue (component_library/catalogue.yaml), loaded through a strict schema.

Every mapping of the file is a pydantic model that forbids unknown keys, so a
misspelt key is an error that names it instead of a fact silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ._resources import LIBRARY, TIMM_MODELS
from .errors import CatalogueError, UnknownComponentError, suggest
from .questions import QUESTIONS

#: Kinds a user can pick from or ``okgen add``, in the order ``okgen list`` shows them.
KINDS = (
    "backbones",
    "necks",
    "poolings",
    "heads",
    "losses",
    "metrics",
    "datasets",
    "samplers",
    "callbacks",
    "optim",
    "transforms",
    "export",
)

#: ``okgen add-head`` and friends take the singular.
SINGULAR = {kind: kind.removesuffix("es" if kind == "losses" else "s") for kind in KINDS}


def resolve_kind(kind: str) -> str:
    """``head``, ``heads`` -> ``heads``; anything else is an unknown kind."""
    plural = {singular: plural for plural, singular in SINGULAR.items()}.get(kind, kind)
    if plural not in KINDS:
        raise UnknownComponentError("kind", kind, SINGULAR.values())
    return plural


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Component(_Strict):
    """One vendorable file and what it needs."""

    kind: str
    name: str
    file: str
    symbol: str
    summary: str
    tasks: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()  # pip requirements beyond what every project has
    depends: tuple[str, ...] = ()  # library files it imports, relative to the library
    # Vendored into every project and used by the glue directly: the config never names it.
    core: bool = False
    # The params the generated config and `okgen add` show for it.
    example: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def module(self) -> str:
        """Dotted module path inside ``components``, e.g. ``necks.fpn``."""
        return self.file.removesuffix(".py").replace("/", ".")


class Neck(Component):
    # the backbone's multi-scale list, one fused map, or one map per stride (with `strides`)
    output: Literal["features", "map", "pyramid"]


class Head(Component):
    input: Literal["vector", "map", "pyramid"]  # a pooled vector, a fused map, or a pyramid
    # A training-only margin head, ``(embeddings, target) -> logits``, after the embedding head.
    margin: bool = False


class Loss(Component):
    input: Literal["logits", "embeddings"] = "logits"  # what the loss scores against the target


class Dataset(Component):
    predict_root: str | None = None  # predict: the image folder of a sample set, inside root
    collate: str | None = None  # the module's batch function when items do not stack
    # Evaluation splits hold identities never seen in training: they take no num_classes.
    open_set: bool = False


_Model = TypeVar("_Model", bound=BaseModel)
_KIND_MODELS: dict[str, type[Component]] = {
    "necks": Neck,
    "heads": Head,
    "losses": Loss,
    "datasets": Dataset,
}


class BackboneModel(_Strict):
    family: str
    summary: str


class Task(_Strict):
    name: str
    summary: str
    defaults: dict[str, Any]  # the answers --yes takes for this task's questions
    metrics: str
    monitor: dict[Literal["metric", "mode"], str]
    # Params the task gives its components in the config, over their `example`, by kind.
    params: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    # Extra keys of the config's `augmentations:` section, e.g. detection's `bbox_params`.
    augmentations: dict[str, Any] = Field(default_factory=dict)
    # Components the task's glue always uses, by kind (e.g. the embedding head a margin
    # head follows); vendored into every project of the task.
    components: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # The config's train pipeline when the task needs its own (sizes come from data.image_size).
    train_augmentations: list[dict[str, Any]] | None = None
    batch_size: int = Field(default=32, ge=1)  # data.batch_size in the config
    # Comments the config gives settings of this task, by key (e.g. batch_size).
    comments: dict[str, str] = Field(default_factory=dict)
    # A measured peak-memory figure the project README gives next to the batch size.
    memory: str | None = None
    # Its training batches carry labels; False for a pretext task (SimCLR's two views), whose
    # head trains only for the loss and whose checkpoints have no score to predict or export.
    labelled: bool = True

    @model_validator(mode="after")
    def _answers_every_task_question(self) -> Task:
        expected = {q.key for q in QUESTIONS if q.per_task}
        if set(self.defaults) != expected:
            odd = sorted(set(self.defaults) ^ expected)
            raise ValueError(f"defaults must answer {', '.join(sorted(expected))}; not {odd}")
        return self


@dataclass(frozen=True)
class Catalogue:
    components: dict[str, dict[str, Component]]
    backbone_models: dict[str, BackboneModel]
    tasks: dict[str, Task]
    root: Path = LIBRARY

    def get(self, kind: str, name: str) -> Component:
        """The component ``name`` of ``kind``; unknown names get close suggestions."""
        entries = self.components[kind]
        if name not in entries:
            raise UnknownComponentError(SINGULAR[kind], name, entries)
        return entries[name]

    def task(self, name: str) -> Task:
        if name not in self.tasks:
            raise UnknownComponentError("task", name, self.tasks)
        return self.tasks[name]

    def backbone_model(self, name: str) -> str:
        """``name`` if timm has such a model; else an error with the closest names."""
        if name not in self.backbone_models and name not in timm_models():
            tested = [*self.backbone_models]
            raise UnknownComponentError("backbone", name, tested, close=[*tested, *timm_models()])
        return name

    def for_task(self, kind: str, task: str) -> list[str]:
        """Names of the ``kind`` components a config of ``task`` can choose."""
        return [n for n, c in self.components[kind].items() if task in c.tasks and not c.core]

    def by_file(self) -> dict[str, Component]:
        return {c.file: c for entries in self.components.values() for c in entries.values()}

    def example(self, component: Component, task: str) -> dict[str, Any]:
        """The params the config shows for ``component`` in a project of ``task``."""
        task_params = self.task(task).params.get(component.kind, {})
        return component.example | task_params.get(component.name, {})


@cache
def timm_models() -> frozenset[str]:
    """Every model name of the timm release okgen was built against (see scripts/)."""
    lines = TIMM_MODELS.read_text().splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


@cache
def load_catalogue(root: Path = LIBRARY) -> Catalogue:
    """The catalogue under ``root``; a key the schema does not know is an error naming it."""
    path = root / "catalogue.yaml"
    # libyaml's loader when PyYAML has it: the pure-Python one is a tenth of `okgen new`.
    raw = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    sections = [*KINDS, "backbone_models", "tasks"]
    for section in raw:
        if section not in sections:
            raise CatalogueError(f"{path}: unknown key {section!r}{suggest(section, sections)}")
    components = {
        kind: {
            name: _validate(
                path,
                f"{kind}.{name}",
                _KIND_MODELS.get(kind, Component),
                entry,
                kind=kind,
                name=name,
            )
            for name, entry in raw.get(kind, {}).items()
        }
        for kind in KINDS
    }
    tasks = {
        name: _validate(path, f"tasks.{name}", Task, entry, name=name)
        for name, entry in raw["tasks"].items()
    }
    _check_references(path, components, tasks)
    return Catalogue(
        components=components,
        backbone_models={
            name: _validate(path, f"backbone_models.{name}", BackboneModel, entry)
            for name, entry in raw["backbone_models"].items()
        },
        tasks=tasks,
        root=root,
    )


def _check_references(
    path: Path, components: dict[str, dict[str, Component]], tasks: dict[str, Task]
) -> None:
    """Names inside task params and components point at components."""
    for task in tasks.values():
        named = [("params", kind, names) for kind, names in task.params.items()]
        named += [("components", kind, names) for kind, names in task.components.items()]
        for field, kind, names in named:
            for name in names:
                if name not in components.get(kind, {}):
                    where = f"tasks.{task.name}.{field}.{kind}.{name}"
                    raise CatalogueError(f"{path}: {where}: no {kind} component is named {name!r}")


def _validate(path: Path, where: str, model: type[_Model], entry: Any, **known: str) -> _Model:
    """``entry`` (plus the ``known`` fields) as a ``model``; a problem is one line naming it."""
    try:
        return model.model_validate({**entry, **known} if isinstance(entry, dict) else entry)
    except ValidationError as error:
        # A misspelt key also makes the right one missing: the misspelling says more.
        first = min(error.errors(), key=lambda e: e["type"] != "extra_forbidden")
        key = ".".join([where, *map(str, first["loc"])])
        if first["type"] == "extra_forbidden":
            name = str(first["loc"][-1])
            problem = f"unknown key {name!r}{suggest(name, model.model_fields)}"
        else:
            problem = first["msg"].removeprefix("Value error, ")
        raise CatalogueError(f"{path}: {key}: {problem}") from None
