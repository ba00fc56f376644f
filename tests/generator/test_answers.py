"""Answers: project names, task defaults and compatibility checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from okgen.answers import Choices, package_name, read_answers_file, resolve_answers
from okgen.catalogue import load_catalogue
from okgen.errors import (
    AnswersFileError,
    IncompatibleChoiceError,
    InvalidNameError,
    UnknownComponentError,
)

CATALOGUE = load_catalogue()


@pytest.mark.parametrize(
    ("name", "package"), [("demo", "demo"), ("my-project", "my_project"), ("Cats2", "cats2")]
)
def test_project_names_map_to_packages(name: str, package: str) -> None:
    assert package_name(name) == package


@pytest.mark.parametrize("name", ["2fast", "my project", "a.b", "", "class", "torch", "-x"])
def test_invalid_project_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidNameError):
        package_name(name)


@pytest.mark.parametrize("task", list(CATALOGUE.tasks))
def test_every_task_default_is_compatible(task: str) -> None:
    answers = resolve_answers(CATALOGUE, Choices(task=task), ask=None)
    assert answers.task == task
    assert answers.losses == CATALOGUE.tasks[task].defaults["losses"]


def test_unknown_names_suggest_the_closest() -> None:
    with pytest.raises(UnknownComponentError, match=r"unknown neck 'fnp'; did you mean 'fpn'\?"):
        resolve_answers(CATALOGUE, Choices(task="segmentation", neck="fnp"), ask=None)
    with pytest.raises(UnknownComponentError, match=r"did you mean 'resnet18'"):
        resolve_answers(CATALOGUE, Choices(backbone="resnet81"), ask=None)


def test_segmentation_head_without_map_neck_says_why() -> None:
    choices = Choices(task="classification", head="segmentation")
    with pytest.raises(IncompatibleChoiceError, match=r"head 'segmentation' does not fit task"):
        resolve_answers(CATALOGUE, choices, ask=None)
    choices = Choices(task="segmentation", neck="identity")
    with pytest.raises(IncompatibleChoiceError, match=r"compatible: fpn, unet, hrnet"):
        resolve_answers(CATALOGUE, choices, ask=None)


def test_loss_of_another_task_is_refused() -> None:
    with pytest.raises(IncompatibleChoiceError, match=r"loss 'dice' does not fit task"):
        resolve_answers(CATALOGUE, Choices(losses=["dice"]), ask=None)


def test_questions_offer_only_compatible_choices() -> None:
    offered: dict[str, list[str] | None] = {}

    def ask(text: str, choices: list[str] | None, default: object) -> object:
        offered[text.split(" ")[0]] = choices
        return default

    resolve_answers(CATALOGUE, Choices(task="segmentation"), ask=ask)
    assert offered["Neck"] == ["fpn", "unet", "hrnet"]
    assert offered["Head"] == ["segmentation"]
    assert "Pooling" not in offered  # segmentation takes no pooling: not asked
    assert "dice" in offered["Losses"] and "bce" not in offered["Losses"]


def test_answers_file_rejects_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "answers.yaml"
    path.write_text("task: classification\nbackbon: resnet18\n")
    with pytest.raises(AnswersFileError, match=r"unknown key 'backbon'; did you mean 'backbone'"):
        read_answers_file(path)


def test_answers_file_rejects_bad_yaml_and_types(tmp_path: Path) -> None:
    path = tmp_path / "answers.yaml"
    path.write_text("task: [unclosed\n")
    with pytest.raises(AnswersFileError, match="cannot read answers file"):
        read_answers_file(path)
    path.write_text("num_classes: many\n")
    with pytest.raises(AnswersFileError, match="num_classes"):
        read_answers_file(path)
