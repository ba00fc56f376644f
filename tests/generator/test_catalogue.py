"""The catalogue is a checked contract: a strict schema, and facts the templates read."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from okgen._resources import TEMPLATES
from okgen.answers import Choices, resolve_answers
from okgen.catalogue import load_catalogue
from okgen.errors import CatalogueError
from okgen.plan import chosen_components, make_plan
from okgen.render import template_data

CATALOGUE = load_catalogue()
TEXT = (CATALOGUE.root / "catalogue.yaml").read_text()


def broken(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the catalogue with ``old`` (which occurs once) replaced by ``new``."""
    assert TEXT.count(old) == 1, old
    shutil.copytree(CATALOGUE.root, tmp_path / "library")
    (tmp_path / "library" / "catalogue.yaml").write_text(TEXT.replace(old, new))
    return tmp_path / "library"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "stride-4 map.\n    tasks: [segmentation]\n    output: map",
            "stride-4 map.\n    tasks: [segmentation]\n    ouptut: map",
            r"necks\.fpn\.ouptut: unknown key 'ouptut'; did you mean 'output'\?",
        ),
        (
            "hidden layer.\n    tasks: [classification, multilabel]\n    input: vector",
            "hidden layer.\n    tasks: [classification, multilabel]\n    inptu: vector",
            r"heads\.linear\.inptu: unknown key",
        ),
        (
            'one folder per class."\n    predict_root: test\n',
            'one folder per class."\n    predict_rot: test\n',
            r"image_folder\.predict_rot",
        ),
        ("    example: {decay: 0.999}", "    exmaple: {decay: 0.999}", r"ema\.exmaple"),
        ("\npoolings:", "\nposlings:", r"unknown key 'poslings'; did you mean 'poolings'\?"),
        (
            "      image_size: 64\n      max_epochs: 8\n",
            "      image_size: 64\n",
            r"tasks\.multilabel: defaults must answer",
        ),
        (
            "        focal: {ignore_index: 255}",
            "        fcoal: {ignore_index: 255}",
            r"tasks\.segmentation\.params\.losses\.fcoal: no losses component is named 'fcoal'",
        ),
        (
            "      heads: [embedding]\n",
            "      heads: [embeding]\n",
            r"tasks\.representation\.components\.heads\.embeding: no heads component is named",
        ),
        (
            "    tasks: [representation]\n    input: embeddings\n",
            "    tasks: [representation]\n    input: vectors\n",
            r"multi_similarity\.input: Input should",
        ),
        (
            "stride-4 map.\n    tasks: [segmentation]\n    output: map",
            "stride-4 map.\n    tasks: [segmentation]\n    output: grid",
            r"necks\.fpn\.output: Input should be 'features', 'map' or 'pyramid'",
        ),
    ],
)
def test_a_misspelt_or_missing_key_is_an_error_naming_it(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    with pytest.raises(CatalogueError, match=message):
        load_catalogue(broken(tmp_path, old, new))


def test_examples_merge_task_params() -> None:
    ema = CATALOGUE.get("callbacks", "ema")
    assert CATALOGUE.example(ema, "classification") == {"decay": 0.999}
    focal = CATALOGUE.get("losses", "focal")
    assert CATALOGUE.example(focal, "classification") == {}
    assert CATALOGUE.example(focal, "segmentation") == {"ignore_index": 255}


def test_template_data_carries_the_facts_templates_once_tested_by_name() -> None:
    choices = Choices(
        task="segmentation", losses=["focal", "dice"], callbacks=["onnx_export", "ema"]
    )
    answers = resolve_answers(CATALOGUE, choices, ask=None)
    plan = make_plan(CATALOGUE, chosen_components(CATALOGUE, answers))
    data = template_data(
        CATALOGUE, answers, plan, project_name="p", package="p", tasks=["segmentation"]
    )
    assert data["examples"]["losses"] == {
        "focal": "{ignore_index: 255}",
        "dice": "{}",
        "weighted_sum": "{}",
    }
    assert data["examples"]["callbacks"]["onnx_export"] == "{}"
    assert data["examples"]["callbacks"]["ema"] == "{decay: 0.999}"
    assert data["predict_root"] == "test/images"
    assert data["max_epochs"] == 10
    core = {c["name"] for kind in data["components"].values() for c in kind if c["core"]}
    assert {"weighted_sum", "unlabeled_folder", "unfreeze"} <= core
    assert not core & {"focal", "dice", "ema", "onnx_export", "mask_folder"}


def test_templates_ask_the_catalogue_not_the_task_name() -> None:
    """A fact about a task (e.g. ``labelled``) is a catalogue field, never ``task == "..."``.

    Task names may only pick a task's own files (``{% if 'detection' in tasks %}`` in a path).
    """
    name_test = re.compile(r"\btask\s*(==|!=)|['\"]\w+['\"]\s+(not\s+)?in\s+tasks\b")
    offenders = [
        f"{path.relative_to(TEMPLATES)}: {{%{statement}%}}"
        for path in sorted(TEMPLATES.rglob("*.jinja"))
        for statement in re.findall(r"{%(.*?)%}", path.read_text(), flags=re.DOTALL)
        if name_test.search(statement)
    ]
    assert offenders == []
    labelled = {name: task.labelled for name, task in CATALOGUE.tasks.items()}
    assert [name for name, value in labelled.items() if not value] == ["self_supervised"]


def test_core_parts_are_never_offered() -> None:
    assert "weighted_sum" not in CATALOGUE.for_task("losses", "classification")
    assert "unfreeze" not in CATALOGUE.for_task("callbacks", "segmentation")
    assert "unlabeled_folder" not in CATALOGUE.for_task("datasets", "classification")


def test_representation_vendors_its_embedding_head_and_sampler_and_flags_them() -> None:
    answers = resolve_answers(CATALOGUE, Choices(task="representation"), ask=None)
    plan = make_plan(CATALOGUE, chosen_components(CATALOGUE, answers))
    data = template_data(
        CATALOGUE, answers, plan, project_name="p", package="p", tasks=["representation"]
    )
    heads = {c["name"]: c["margin"] for c in data["components"]["heads"]}
    assert heads == {"cosface": True, "embedding": False}
    assert [c["name"] for c in data["components"]["samplers"]] == ["pk"]
    assert all(c["open_set"] for c in data["components"]["datasets"] if not c["core"])
    assert {"faiss-cpu>=1.15.1", "ranx>=0.3.21"} <= set(plan.requirements)
    assert CATALOGUE.get("losses", "multi_similarity").input == "embeddings"
    assert CATALOGUE.get("losses", "cross_entropy").input == "logits"
