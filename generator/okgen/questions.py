"""The questions of ``okgen new``, declared once.

Each :class:`Question` is the single place a question is spelled out. Everything
else is derived from :data:`QUESTIONS`: the ``okgen new`` options, their help and
its panels (``cli.py``), the answer models, their validation and the task defaults
(``answers.py``), the interactive prompts and the summary of the answers
(``prompts.py``), the answers a task added later brings
(``add.py``), and the variables the copier template renders from (every answer
is one). Adding a question means adding a record here, with ``since`` set to the
new :data:`ANSWERS_VERSION`; projects made before get its default on ``update``.

This module imports nothing heavy: the CLI reads it to build its options.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args, get_origin

if TYPE_CHECKING:
    from .catalogue import Catalogue

#: The schema of the answers a manifest records. 1: okgen 0.1.0. 2: adds max_epochs.
ANSWERS_VERSION = 2
#: The schema of a manifest that records none: okgen 0.1.0 wrote no answers_version.
UNVERSIONED = 1


class _TaskDefault:
    def __repr__(self) -> str:
        return "TASK"


#: The default of a question that belongs to a task: the task's ``defaults`` in the catalogue.
TASK: Any = _TaskDefault()

#: The panels ``okgen new --help`` groups the question options into, in this order.
PANELS = MODEL, DATA, HARDWARE, TRAINING, OUTPUT = (
    "Task and model",
    "Data",
    "Hardware",
    "Training",
    "Output",
)


class Described(Protocol):
    """A catalogue entry a choice names: it has a one-line summary."""

    @property
    def summary(self) -> str: ...


@dataclass(frozen=True)
class Question:
    """One question: its answer's key, type, default, help and what it offers."""

    key: str  # the answer's name in manifests, answers files and the template
    text: str  # the prompt, and the option's --help
    type: Any  # str, int, bool, list[str], a Literal, or ``X | None``
    default: Any = TASK  # a fixed default, or TASK (then the answer belongs to the task)
    kind: str | None = None  # the catalogue kind it names components of
    # The catalogue entries it offers, by name, when not of a kind (each has a summary).
    entries: Callable[[Catalogue], Mapping[str, Described]] | None = None
    check: Callable[[Any], Any] | None = None  # validates beyond the type; raises ValueError
    option: str | None = None  # the --option when it is not --<key>, e.g. loss for losses
    since: int = 1  # the ANSWERS_VERSION that introduced it
    panel: str = field(kw_only=True)  # one of PANELS: where `okgen new --help` lists it

    @property
    def per_task(self) -> bool:
        """Whether each task of a project has its own answer (and default)."""
        return self.default is TASK

    @property
    def many(self) -> bool:
        """A list answer; its option is repeated (``--loss a --loss b``)."""
        return get_origin(self.type) is list

    @property
    def param(self) -> str:
        """The ``okgen new`` parameter: ``--dataset-format`` is ``dataset_format``."""
        return self.option or self.key

    def offered(self, catalogue: Catalogue, task: str) -> list[str] | None:
        """The choices offered for ``task``, or None for free input."""
        if self.entries is not None:
            return list(self.entries(catalogue))
        if self.kind is not None:
            return catalogue.for_task(self.kind, task)
        return self.literal

    def summary(self, catalogue: Catalogue, name: str) -> str:
        """The catalogue's one-line summary of the choice ``name``; empty if it has none."""
        if self.entries is not None:
            entry = self.entries(catalogue).get(name)
        else:
            entry = catalogue.components[self.kind].get(name) if self.kind else None
        return entry.summary if entry is not None else ""

    @property
    def literal(self) -> list[str] | None:
        """The choices a ``Literal`` type fixes, else None."""
        return list(get_args(self.type)) if get_origin(self.type) is Literal else None


def _at_least(low: int, multiple_of: int = 1) -> Callable[[int], int]:
    def check(value: int) -> int:
        if value < low or value % multiple_of:
            multiple = f"a multiple of {multiple_of} and " if multiple_of > 1 else ""
            raise ValueError(f"must be {multiple}at least {low}, got {value}")
        return value

    return check


def check_not_empty(value: list[str]) -> list[str]:
    """A list answer with at least one name."""
    if not value:
        raise ValueError("choose at least one")
    return value


def check_devices(value: str) -> str:
    """``auto``, a positive count (``2``) or a comma list of GPU indices (``0,1``)."""
    value = value.replace(" ", "")
    indices = value.removesuffix(",").split(",")
    listed = (
        "," in value and all(i.isdigit() for i in indices) and len(set(indices)) == len(indices)
    )
    if not (value == "auto" or (value.isdigit() and int(value) > 0) or listed):
        raise ValueError(
            "expected auto, a positive count (2) or a comma list of GPU indices (0,1); "
            f"got {value!r}"
        )
    return value


def check_one_line(value: str) -> str:
    """Text that stays on one line: no newline or other control character."""
    control = next((c for c in value if ord(c) < 32 or 127 <= ord(c) < 160), None)
    if control is not None:
        raise ValueError(f"must be one line of text, without {control!r}")
    return value


Accelerator = Literal["auto", "cpu", "gpu"]
Precision = Literal["auto", "32-true", "16-mixed", "bf16-mixed"]

QUESTIONS = (
    Question(
        "task",
        "Task (what the model predicts: classification, segmentation, ...)",
        str,
        "classification",
        entries=lambda catalogue: catalogue.tasks,
        panel=MODEL,
    ),
    Question(
        "backbone",
        "Backbone: a timm model name (the families okgen tests are offered)",
        str,
        "resnet18",
        entries=lambda catalogue: catalogue.backbone_models,
        panel=MODEL,
    ),
    Question(
        "pretrained",
        "Start from pretrained weights (needs the hub or a local file)",
        bool,
        False,
        panel=MODEL,
    ),
    Question("neck", "Neck", str, kind="necks", panel=MODEL),
    Question("pooling", "Pooling (none for dense heads)", str | None, kind="poolings", panel=MODEL),
    Question("head", "Head", str, kind="heads", panel=MODEL),
    Question(
        "losses",
        "Losses (several are summed with weights in the config)",
        list[str],
        kind="losses",
        check=check_not_empty,
        option="loss",
        panel=MODEL,
    ),
    Question("dataset_format", "Dataset format", str, kind="datasets", panel=DATA),
    Question("num_classes", "Number of classes", int, check=_at_least(2), panel=DATA),
    Question(
        "image_size",
        "Image size (a multiple of 32)",
        int,
        check=_at_least(32, 32),
        panel=DATA,
    ),
    Question("accelerator", "Accelerator", Accelerator, "auto", panel=HARDWARE),
    Question(
        "devices",
        "Devices: auto, a count, or GPU indices like 0,1",
        str,
        "auto",
        check=check_devices,
        panel=HARDWARE,
    ),
    Question(
        "precision",
        "Precision (auto: bf16-mixed where the GPU supports it)",
        Precision,
        "auto",
        panel=HARDWARE,
    ),
    Question(
        "unfreeze_epoch",
        "Epoch at which the backbone unfreezes (0: never frozen)",
        int,
        0,
        check=_at_least(0),
        panel=TRAINING,
    ),
    Question("max_epochs", "Training epochs", int, check=_at_least(1), since=2, panel=TRAINING),
    Question(
        "callbacks",
        "Extra callbacks",
        list[str],
        [],
        kind="callbacks",
        option="callback",
        panel=TRAINING,
    ),
    Question(
        "description",
        "One-line project description",
        str,
        "A computer-vision project generated by okgen.",
        check=check_one_line,
        panel=OUTPUT,
    ),
)

BY_KEY = {question.key: question for question in QUESTIONS}
