"""What the user chose: answer models, defaults, migrations, asking and compatibility.

The models and the order of the questions come from :data:`okgen.questions.QUESTIONS`.
"""

from __future__ import annotations

import copy
import keyword
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, ConfigDict, ValidationError, create_model

from .catalogue import SINGULAR, Catalogue, load_catalogue
from .errors import AnswersFileError, IncompatibleChoiceError, InvalidNameError, suggest
from .questions import ANSWERS_VERSION, QUESTIONS, UNVERSIONED, Question

#: Asks one question: (prompt text, offered choices or None for free text, default) -> answer.
Ask = Callable[[str, list[str] | None, Any], Any]

_PROJECT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
#: Longer names would not fit a file name (255 bytes) once paths are built from them.
MAX_NAME_LENGTH = 100


def package_name(project_name: str) -> str:
    """``my-project`` -> ``my_project``; names that do not map cleanly are refused."""
    if len(project_name) > MAX_NAME_LENGTH:
        raise InvalidNameError(
            f"invalid project name {project_name[:20]!r}...: it has {len(project_name)} "
            f"characters, at most {MAX_NAME_LENGTH} are allowed"
        )
    if not _PROJECT_NAME.fullmatch(project_name):
        raise InvalidNameError(
            f"invalid project name {project_name!r}: use letters, digits, '-' and '_', "
            "starting with a letter"
        )
    package = project_name.replace("-", "_").lower()
    if keyword.iskeyword(package) or package in {"test", "tests", "torch", "lightning", "timm"}:
        raise InvalidNameError(f"invalid project name {project_name!r}: {package!r} is reserved")
    return package


def _annotation(question: Question) -> Any:
    if question.check is None:
        return question.type
    return Annotated[question.type, AfterValidator(question.check)]


_FORBID = ConfigDict(extra="forbid")
#: Answers to some questions (flags, answers files); a missing answer is None.
Choices = create_model(
    "Choices", __config__=_FORBID, **{q.key: (_annotation(q) | None, None) for q in QUESTIONS}
)
#: An answer to every question: what the manifest records and the template renders from.
Answers = create_model(
    "Answers", __config__=_FORBID, **{q.key: (_annotation(q), ...) for q in QUESTIONS}
)


def defaults(catalogue: Catalogue, task: str) -> dict[str, Any]:
    """Every question's default for ``task``: its own, or the task's from the catalogue."""
    task_defaults = catalogue.task(task).defaults
    return copy.deepcopy(
        {q.key: task_defaults[q.key] if q.per_task else q.default for q in QUESTIONS}
    )


def upgrade(raw: dict[str, Any], version: int, catalogue: Catalogue) -> dict[str, Any]:
    """Answers recorded under schema ``version``, in today's: later questions get defaults."""
    if version > ANSWERS_VERSION:
        raise AnswersFileError(
            f"these answers have schema version {version}, newer than this okgen reads "
            f"({ANSWERS_VERSION}); upgrade okgen"
        )
    later = [q.key for q in QUESTIONS if q.since > version and q.key not in raw]
    if not later:
        return raw
    fallback = defaults(catalogue, raw.get("task", QUESTIONS[0].default))
    return raw | {key: fallback[key] for key in later}


def recorded_answers(raw: dict[str, Any], version: int, where: str) -> Answers:
    """Answers a manifest recorded under schema ``version``, brought to today's schema."""
    try:
        return Answers.model_validate(upgrade(raw, version, load_catalogue()))
    except ValidationError as error:
        raise AnswersFileError(
            f"the manifest's {where} do not validate: {describe_validation_error(error)}"
        ) from None


def read_answers_file(path: Path) -> Choices:
    """A saved answers file (YAML or JSON); unknown keys and wrong types are errors.

    A manifest replays too: its answers are brought to today's schema first.
    """
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise AnswersFileError(f"cannot read answers file {path}: {_first_line(error)}") from None
    if isinstance(raw, dict) and isinstance(raw.get("answers"), dict):
        version = raw.get("answers_version", UNVERSIONED)
        raw = upgrade(raw["answers"], version, load_catalogue())
    if not isinstance(raw, dict):
        raise AnswersFileError(f"answers file {path} must hold a mapping of question: answer")
    try:
        return Choices.model_validate(raw)
    except ValidationError as error:
        raise AnswersFileError(f"answers file {path}: {describe_validation_error(error)}") from None


def describe_validation_error(error: ValidationError) -> str:
    """The first problem of a pydantic error, as ``key: what is wrong``."""
    # A misspelt key also makes the right one missing: the misspelling says more.
    first = min(error.errors(), key=lambda e: e["type"] != "extra_forbidden")
    key = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"unknown key {key!r}{suggest(key, Choices.model_fields)}"
    return f"{key}: {first['msg'].removeprefix('Value error, ')}"


def resolve_answers(catalogue: Catalogue, given: Choices, ask: Ask | None) -> Answers:
    """Fill every unanswered question by asking (``ask``) or with the task's default.

    ``ask=None`` accepts every default, as ``--yes`` and non-interactive runs do. A
    question whose default for the task is None (the task takes no such part) is
    not asked.
    """
    answers = given.model_dump(exclude_none=True)
    task, *others = QUESTIONS  # the task comes first: the other defaults depend on it
    if task.key not in answers:
        answers[task.key] = _ask(ask, task, task.offered(catalogue, ""), task.default)
    fallback = defaults(catalogue, answers[task.key])
    for question in others:
        if question.key not in answers:
            offered = question.offered(catalogue, answers[task.key])
            answers[question.key] = _ask(ask, question, offered, fallback[question.key])
    resolved = Answers.model_validate(answers)
    check_compatible(catalogue, resolved)
    return resolved


def _ask(ask: Ask | None, question: Question, offered: list[str] | None, default: Any) -> Any:
    return default if ask is None or default is None else ask(question.text, offered, default)


def check_compatible(catalogue: Catalogue, answers: Answers) -> None:
    """Raise on unknown names and on choices that do not fit together."""
    task = answers.task
    catalogue.task(task)
    catalogue.backbone_model(answers.backbone)
    for kind, name in named_components(answers):
        _check_fits(catalogue, kind, name, task)
    repeated = sorted({c for c in answers.callbacks if answers.callbacks.count(c) > 1})
    if repeated:
        raise IncompatibleChoiceError(f"callback {repeated[0]!r} is given twice")
    if answers.unfreeze_epoch >= answers.max_epochs:
        raise IncompatibleChoiceError(
            f"unfreeze_epoch {answers.unfreeze_epoch} is not below max_epochs "
            f"{answers.max_epochs}: the backbone would never train"
        )
    if answers.accelerator == "cpu" and "," in answers.devices:
        raise IncompatibleChoiceError(
            f"devices {answers.devices!r} lists GPU indices, but the accelerator is cpu; "
            "give a count of processes or choose accelerator gpu"
        )
    head = catalogue.get("heads", answers.head)
    neck = catalogue.get("necks", answers.neck)
    dense = {"map": "one fused map", "pyramid": "a feature pyramid (one map per stride)"}
    if head.input in dense and neck.output != head.input:
        fitting = [n for n, c in catalogue.components["necks"].items() if c.output == head.input]
        raise IncompatibleChoiceError(
            f"{head.name} head needs a neck that outputs {dense[head.input]}; "
            f"compatible necks: {', '.join(sorted(fitting))}"
        )
    if neck.output == "pyramid" and head.input != "pyramid":
        fitting = [n for n, c in catalogue.components["heads"].items() if c.input == "pyramid"]
        raise IncompatibleChoiceError(
            f"{neck.name} neck outputs a feature pyramid, which only a pyramid head reads; "
            f"compatible heads: {', '.join(sorted(fitting))}"
        )
    if head.input in dense and answers.pooling is not None:
        raise IncompatibleChoiceError(
            f"{head.name} head predicts per position and takes no pooling"
        )
    if head.input == "vector" and answers.pooling is None:
        poolings = ", ".join(catalogue.for_task("poolings", task))
        raise IncompatibleChoiceError(f"{head.name} head needs a pooling; choose one of {poolings}")


def named_components(answers: Answers) -> list[tuple[str, str]]:
    """``(kind, name)`` of each component the answers name, in question order."""
    named = []
    for question in QUESTIONS:
        value = getattr(answers, question.key)
        if question.kind is not None and value is not None:
            named += [(question.kind, name) for name in (value if question.many else [value])]
    return named


def _check_fits(catalogue: Catalogue, kind: str, name: str, task: str) -> None:
    component = catalogue.get(kind, name)
    what = f"{SINGULAR[kind]} {name!r}"
    if component.core:
        raise IncompatibleChoiceError(f"{what} is part of every project; it is not chosen")
    if task not in component.tasks:
        valid = catalogue.for_task(kind, task)
        why = f"compatible: {', '.join(valid)}" if valid else f"that task takes no {SINGULAR[kind]}"
        raise IncompatibleChoiceError(f"{what} does not fit task {task!r}; {why}")


def backbone_note(catalogue: Catalogue, backbone: str, package: str) -> str | None:
    """A warning for a timm model outside the families okgen tests, else None."""
    if backbone in catalogue.backbone_models:
        return None
    families = sorted({model.family for model in catalogue.backbone_models.values()})
    return (
        f"backbone {backbone!r} is a timm model outside the families okgen tests "
        f"({', '.join(families)}); check that it builds as a features_only backbone "
        f"at your image size with `python -m {package} check-model`"
    )


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
