"""The questions of ``okgen new``: each offers only choices compatible with the task."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args

from .answers import Accelerator, Answers, Choices, Precision, check_compatible, task_defaults
from .catalogue import Catalogue

#: Asks one question: (prompt text, allowed choices or None for free text, default) -> answer.
Ask = Callable[[str, list[str] | None, Any], Any]


@dataclass(frozen=True)
class Question:
    key: str
    text: str
    choices: Callable[[Catalogue, str], list[str]] | None = None


def _kind(kind: str) -> Callable[[Catalogue, str], list[str]]:
    return lambda catalogue, task: catalogue.for_task(kind, task)


QUESTIONS = (
    Question(
        "backbone",
        "Backbone (any timm model works later from the config)",
        lambda catalogue, _: list(catalogue.backbone_models),
    ),
    Question("pretrained", "Start from pretrained weights (needs the hub or a local file)"),
    Question("neck", "Neck", _kind("necks")),
    Question("pooling", "Pooling", _kind("poolings")),
    Question("head", "Head", _kind("heads")),
    Question(
        "losses", "Losses (comma-separated, summed with weights in the config)", _kind("losses")
    ),
    Question("dataset_format", "Dataset format", _kind("datasets")),
    Question("num_classes", "Number of classes"),
    Question("image_size", "Image size (multiple of 32)"),
    Question("accelerator", "Accelerator", lambda *_: list(get_args(Accelerator))),
    Question("devices", "Devices (auto, a count, or a list like 0,1)"),
    Question(
        "precision",
        "Precision (auto = bf16-mixed where the GPU supports it)",
        lambda *_: list(get_args(Precision)),
    ),
    Question("unfreeze_epoch", "Epoch at which the backbone unfreezes (0 = never frozen)"),
)


def resolve_answers(catalogue: Catalogue, given: Choices, ask: Ask | None) -> Answers:
    """Fill every unanswered question by asking (``ask``) or with the task's default.

    ``ask=None`` accepts every default, as ``--yes`` and non-interactive runs do.
    """
    answers = given.model_dump(exclude_none=True)
    if "task" not in answers:
        tasks = list(catalogue.tasks)
        answers["task"] = ask("Task", tasks, tasks[0]) if ask else tasks[0]
    defaults = task_defaults(catalogue, answers["task"])
    for question in QUESTIONS:
        if question.key in answers:
            continue
        default = defaults[question.key]
        if ask is None or (question.key == "pooling" and default is None):
            answers[question.key] = default
            continue
        choices = question.choices(catalogue, answers["task"]) if question.choices else None
        answers[question.key] = ask(question.text, choices, default)
    for key, value in defaults.items():
        answers.setdefault(key, value)
    resolved = Answers.model_validate(answers)
    check_compatible(catalogue, resolved)
    return resolved
