"""The component catalogue (component_library/catalogue.yaml) as typed records."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ._resources import LIBRARY
from .errors import UnknownComponentError

#: Kinds a user can pick from or ``okgen add``, in the order ``okgen list`` shows them.
KINDS = (
    "backbones",
    "necks",
    "poolings",
    "heads",
    "losses",
    "metrics",
    "datasets",
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


@dataclass(frozen=True)
class Component:
    """One vendorable file and what it needs."""

    kind: str
    name: str
    file: str
    symbol: str
    summary: str
    tasks: tuple[str, ...]
    requires: tuple[str, ...] = ()
    depends: tuple[str, ...] = ()
    output: str | None = None  # necks: "features" or "map"
    input: str | None = None  # heads: "vector" or "map"

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def module(self) -> str:
        """Dotted module path inside ``components``, e.g. ``necks.fpn``."""
        return self.file.removesuffix(".py").replace("/", ".")


@dataclass(frozen=True)
class Task:
    name: str
    summary: str
    defaults: dict[str, Any]
    metrics: str
    monitor: dict[str, str]


@dataclass(frozen=True)
class Catalogue:
    components: dict[str, dict[str, Component]]
    backbone_models: dict[str, dict[str, str]]
    tasks: dict[str, Task]
    core: tuple[str, ...]
    root: Path = field(default=LIBRARY)

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
        if name not in self.backbone_models:
            raise UnknownComponentError("backbone", name, self.backbone_models)
        return name

    def for_task(self, kind: str, task: str) -> list[str]:
        """Names of ``kind`` components that suit ``task``."""
        return [name for name, c in self.components[kind].items() if task in c.tasks]

    def by_file(self) -> dict[str, Component]:
        return {c.file: c for entries in self.components.values() for c in entries.values()}


@cache
def load_catalogue(root: Path = LIBRARY) -> Catalogue:
    raw = yaml.safe_load((root / "catalogue.yaml").read_text())
    components = {
        kind: {
            name: Component(
                kind=kind,
                name=name,
                file=entry["file"],
                symbol=entry["symbol"],
                summary=entry["summary"],
                tasks=tuple(entry.get("tasks", ())),
                requires=tuple(entry.get("requires", ())),
                depends=tuple(entry.get("depends", ())),
                output=entry.get("output"),
                input=entry.get("input"),
            )
            for name, entry in raw[kind].items()
        }
        for kind in KINDS
    }
    tasks = {name: Task(name=name, **entry) for name, entry in raw["tasks"].items()}
    return Catalogue(
        components=components,
        backbone_models=raw["backbone_models"],
        tasks=tasks,
        core=tuple(raw["core"]),
        root=root,
    )
