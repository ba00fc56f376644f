"""One declaration per question, and answers of older okgen versions brought up to date."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from okgen.answers import Answers, Choices, recorded_answers, upgrade
from okgen.catalogue import load_catalogue
from okgen.cli import app
from okgen.errors import AnswersFileError
from okgen.manifest import MANIFEST
from okgen.questions import ANSWERS_VERSION, QUESTIONS, UNVERSIONED

from .projects import manifest_of, new_project, okgen

CATALOGUE = load_catalogue()
FIXTURES = Path(__file__).parent / "fixtures"
#: What okgen 0.1.0 recorded for `okgen new old --yes` (before answers were versioned).
MANIFEST_0_1_0 = json.loads((FIXTURES / "manifest_0_1_0.json").read_text())
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_every_question_is_an_option_and_an_answer() -> None:
    result = CliRunner().invoke(app, ["new", "--help"], env={"COLUMNS": "200"})
    for question in QUESTIONS:
        option = "--" + question.param.replace("_", "-")
        assert option in result.stdout, option
    flags = ["--no-pretrained", "--answers", "--output-dir", "-o", "--yes", "-y", "--loss"]
    assert all(flag in result.stdout for flag in flags)
    keys = [q.key for q in QUESTIONS]
    assert list(Choices.model_fields) == keys and list(Answers.model_fields) == keys


def test_copier_declares_no_question_of_its_own() -> None:
    """The template's variables are okgen's answers: copier.yml holds only settings."""
    settings = yaml.safe_load((TEMPLATES / "copier.yml").read_text())
    assert all(key.startswith("_") for key in settings), settings


def test_each_task_answers_exactly_the_questions_that_belong_to_a_task() -> None:
    per_task = {q.key for q in QUESTIONS if q.per_task}
    assert {"neck", "losses", "max_epochs"} <= per_task and "backbone" not in per_task
    for task in CATALOGUE.tasks.values():
        assert set(task.defaults) == per_task, task.name


def test_a_0_1_0_manifest_gets_the_later_questions_defaults() -> None:
    raw = MANIFEST_0_1_0["answers"]
    assert "max_epochs" not in raw and "answers_version" not in MANIFEST_0_1_0
    with pytest.raises(AnswersFileError, match="max_epochs"):  # as it is, it does not validate
        recorded_answers(raw, ANSWERS_VERSION, "answers")
    answers = recorded_answers(raw, UNVERSIONED, "answers")
    assert answers.max_epochs == CATALOGUE.tasks["classification"].defaults["max_epochs"]
    assert answers.model_dump() == raw | {"max_epochs": answers.max_epochs}
    segmentation = recorded_answers(raw | {"task": "segmentation"}, UNVERSIONED, "answers")
    assert segmentation.max_epochs == CATALOGUE.tasks["segmentation"].defaults["max_epochs"]


def test_answers_of_a_newer_okgen_are_refused() -> None:
    with pytest.raises(AnswersFileError, match=r"newer than this okgen reads"):
        upgrade(dict(MANIFEST_0_1_0["answers"]), ANSWERS_VERSION + 1, CATALOGUE)


def test_update_brings_a_0_1_0_project_to_the_current_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project whose manifest records 0.1.0's answers: update fills max_epochs, no error."""
    project = new_project(tmp_path, name="old")
    manifest = manifest_of(project)
    manifest.pop("answers_version")
    manifest["answers"] = MANIFEST_0_1_0["answers"]
    manifest["okgen_version"] = MANIFEST_0_1_0["okgen_version"]
    (project / MANIFEST).write_text(json.dumps(manifest))
    monkeypatch.chdir(project)
    code, out, err = okgen("update")
    assert code == 0, out + err
    updated = manifest_of(project)
    assert updated["answers_version"] == ANSWERS_VERSION
    assert updated["answers"]["max_epochs"] == 6
    assert "  max_epochs: 6\n" in (project / "configs/train.yaml").read_text()


def test_a_0_1_0_manifest_replays_as_an_answers_file(tmp_path: Path) -> None:
    code, out, err = okgen(
        "new", "again", "--answers", str(FIXTURES / "manifest_0_1_0.json"), "-o", str(tmp_path)
    )
    assert code == 0, out + err
    answers = manifest_of(tmp_path / "again")["answers"]
    assert answers == MANIFEST_0_1_0["answers"] | {"max_epochs": 6}
