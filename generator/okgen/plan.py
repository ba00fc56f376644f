"""From answers to a vendoring plan: which library files a project gets and what they need."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .answers import Answers, named_components
from .catalogue import Catalogue, Component

#: Every project needs these, whatever it vendors: the glue imports them.
BASE_REQUIREMENTS = (
    "torch>=2.4",
    "lightning>=2.4,<3",
    "torchmetrics>=1.4",
    "pydantic>=2.6",
    "pyyaml>=6.0",
    "numpy>=1.24",
    "pillow>=10",
    "matplotlib>=3.7",  # the pictures a run draws (plots.py)
    "tensorboard>=2.15",
    "tqdm>=4.57",  # progress of sample-data (progress.py); Lightning's bar uses it too
)


@dataclass(frozen=True)
class Plan:
    components: tuple[Component, ...]
    files: tuple[str, ...]  # library-relative paths, dependency closure included
    requirements: tuple[str, ...]


def chosen_components(catalogue: Catalogue, answers: Answers) -> list[Component]:
    """The components the answers name, plus the core every project imports."""
    task = catalogue.task(answers.task)
    picks = [
        ("backbones", "timm"),
        ("metrics", task.metrics),
        *((kind, name) for kind, names in task.components.items() for name in names),
        *named_components(answers),
    ]
    core = [c for c in catalogue.by_file().values() if c.core]
    return [catalogue.get(kind, name) for kind, name in picks] + core


def make_plan(catalogue: Catalogue, components: Iterable[Component]) -> Plan:
    """Close ``components`` over their ``depends`` and collect their requirements."""
    unique = {c.key: c for c in components}
    by_file = catalogue.by_file()
    files: dict[str, None] = {}
    pending = [c.file for c in unique.values()]
    while pending:
        path = pending.pop()
        if path in files:
            continue
        files[path] = None
        if path in by_file:
            pending.extend(by_file[path].depends)
    requirements = {r for path in files if path in by_file for r in by_file[path].requires}
    ordered = sorted(unique.values(), key=lambda c: (c.kind, c.name))
    return Plan(
        components=tuple(ordered),
        files=tuple(sorted(files)),
        requirements=tuple(sorted(set(BASE_REQUIREMENTS) | requirements, key=str.lower)),
    )
