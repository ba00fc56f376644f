"""``okgen new`` on a terminal: arrow keys, checkboxes and text under a pseudo-terminal."""

from __future__ import annotations

import io
import json
import os
import re
import sys
from pathlib import Path

import pexpect

from okgen.manifest import MANIFEST

DOWN, ENTER, SPACE, BACKSPACE, CTRL_C = "\x1b[B", "\r", " ", "\x7f", "\x03"
OKGEN = "import sys; from okgen.cli import app; sys.exit(app())"
#: Colours and cursor moves, for reading what the terminal showed.
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def spawn(tmp_path: Path, *args: str) -> pexpect.spawn:
    """``okgen new ...`` in ``tmp_path`` on a 150-column pseudo-terminal."""
    child = pexpect.spawn(
        sys.executable,
        ["-c", OKGEN, "new", *args],
        cwd=tmp_path,
        env=os.environ | {"TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1"},
        dimensions=(50, 150),
        encoding="utf-8",
        timeout=20,
    )
    child.logfile_read = io.StringIO()
    return child


def answer(child: pexpect.spawn, prompt: str, keys: str) -> None:
    """Once ``prompt`` shows and the screen is still, type ``keys`` one by one."""
    child.expect(prompt)
    settle(child)
    for key in re.findall(r"\x1b\[[A-D]|.", keys, flags=re.DOTALL):
        child.send(key)


def settle(child: pexpect.spawn) -> None:
    """Wait until the terminal has been quiet for a moment: keys typed earlier may be lost."""
    while child.expect([pexpect.TIMEOUT, r"(?s)."], timeout=0.3) == 1:
        pass


def finish(child: pexpect.spawn) -> str:
    """Everything the terminal showed, without escape codes, once okgen exits."""
    child.expect(pexpect.EOF)
    child.close()
    return ANSI.sub("", child.logfile_read.getvalue())


def test_a_whole_session_with_arrow_keys_writes_the_chosen_project(tmp_path: Path) -> None:
    child = spawn(tmp_path, "seg")
    answer(child, "Task", DOWN + DOWN + ENTER)  # classification, multilabel, segmentation
    answer(child, "Backbone", DOWN + ENTER)  # resnet18, resnet50
    answer(child, "pretrained", "y")
    answer(child, "Neck", DOWN + ENTER)  # fpn, unet
    answer(child, "Head", ENTER)  # a map head: the pooling question is never asked
    # cross_entropy and dice, the task's defaults, are ticked: untick both...
    # The prompts refuse what the declaration's check refuses, and stay open: the answers
    # in the manifest prove it (their messages are redrawn per key, so not asserted here).
    answer(child, "Losses", SPACE + DOWN * 3 + SPACE + ENTER)
    answer(child, "", DOWN * 2 + SPACE + ENTER)  # ...and tick lovasz
    answer(child, "Dataset format", DOWN + ENTER)  # mask_folder, mask_csv
    # Text is asked until the declaration's type and check accept it: 1, x, then 3.
    answer(child, "Number of classes", BACKSPACE * 3 + "1" + ENTER)
    answer(child, "", BACKSPACE + "x" + ENTER)
    answer(child, "", BACKSPACE + "3" + ENTER)
    answer(child, "Image size", BACKSPACE * 2 + "100" + ENTER)
    answer(child, "", BACKSPACE * 3 + "96" + ENTER)
    answer(child, "Accelerator", DOWN + ENTER)  # auto, cpu
    answer(child, "Devices", BACKSPACE * 4 + "0" + ENTER)  # a count must be positive
    answer(child, "", BACKSPACE + "2" + ENTER)
    answer(child, "Precision", ENTER)
    answer(child, "unfreezes", BACKSPACE + "1" + ENTER)
    answer(child, "Training epochs", ENTER)
    answer(child, "Extra callbacks", SPACE + ENTER)  # the first one offered
    answer(child, "description", BACKSPACE * 60 + "Harbour ships [v2]" + ENTER)
    answer(child, "Write the project to seg", "y")
    screen = finish(child)
    assert child.exitstatus == 0, screen
    # The option's summary follows its name, aligned with the longest task name.
    assert re.search(r"segmentation +Semantic segmentation, one class per pixel\.", screen)
    assert "Pooling" not in screen
    # The summary table: every answer, with what the named components are.
    assert "Lovasz-softmax, a convex surrogate of mean IoU." in screen
    assert "Harbour ships [v2]" in screen and "Training" in screen
    assert "python -m seg sample-data" in screen and "losses      lovasz" in screen
    answers = json.loads((tmp_path / "seg" / MANIFEST).read_text())["answers"]
    assert answers == {
        "task": "segmentation",
        "backbone": "resnet50",
        "pretrained": True,
        "neck": "unet",
        "pooling": None,
        "head": "segmentation",
        "losses": ["lovasz"],
        "dataset_format": "mask_csv",
        "num_classes": 3,
        "image_size": 96,
        "accelerator": "cpu",
        "devices": "2",
        "precision": "auto",
        "unfreeze_epoch": 1,
        "max_epochs": 10,
        "callbacks": ["ema"],
        "description": "Harbour ships [v2]",
    }


def test_flags_are_not_asked_and_declining_writes_nothing(tmp_path: Path) -> None:
    flags = ["--task", "multilabel", "--backbone", "resnet18", "--no-pretrained"]
    flags += ["--neck", "identity", "--head", "linear", "--loss", "bce"]
    flags += ["--dataset-format", "multilabel_csv", "--num-classes", "4", "--image-size", "64"]
    flags += ["--accelerator", "cpu", "--devices", "1", "--precision", "32-true"]
    flags += ["--unfreeze-epoch", "0", "--max-epochs", "3", "--description", "x"]
    child = spawn(tmp_path, "p", *flags)
    answer(child, "Pooling", DOWN * 2 + ENTER)  # avg, max, gem
    answer(child, "Extra callbacks", ENTER)
    answer(child, "Write the project to p", "n")
    screen = finish(child)
    assert child.exitstatus == 1
    assert "error: not confirmed: nothing was written, p was not created" in screen
    assert "gem" in screen and "Generalized-mean pooling" in screen  # the summary table
    assert "Task (" not in screen and "Losses (" not in screen  # given by flags: not asked
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_cancels_and_writes_nothing(tmp_path: Path) -> None:
    child = spawn(tmp_path, "p", "--task", "classification")
    answer(child, "Backbone", CTRL_C)
    screen = finish(child)
    assert child.exitstatus == 130 and "cancelled: nothing was written" in screen
    assert list(tmp_path.iterdir()) == []


def test_answers_that_do_not_fit_are_asked_again_with_them_as_defaults(tmp_path: Path) -> None:
    flags = ["--task", "classification", "--backbone", "resnet18", "--no-pretrained"]
    flags += ["--neck", "identity", "--pooling", "avg", "--head", "linear"]
    flags += ["--loss", "cross_entropy", "--dataset-format", "image_folder"]
    flags += ["--num-classes", "4", "--image-size", "64", "--accelerator", "cpu"]
    flags += ["--precision", "auto", "--unfreeze-epoch", "0", "--description", "x"]
    flags += ["--callback", "ema"]
    child = spawn(tmp_path, "p", *flags)
    answer(child, "Devices", BACKSPACE * 4 + "0,1" + ENTER)  # GPU indices on a cpu
    answer(child, "Training epochs", ENTER)
    answer(child, "Devices", BACKSPACE * 3 + "2" + ENTER)
    answer(child, "Training epochs", BACKSPACE + "3" + ENTER)
    answer(child, "Write the project to p", "y")
    screen = finish(child)
    assert child.exitstatus == 0, screen
    assert "error: devices '0,1' lists GPU indices, but the accelerator is cpu" in screen
    assert "Answer again; your answers are the defaults." in screen
    answers = json.loads((tmp_path / "p" / MANIFEST).read_text())["answers"]
    assert (answers["devices"], answers["max_epochs"]) == ("2", 3)

    child = spawn(tmp_path, "q", *flags)  # the same answers twice: the error stands
    answer(child, "Devices", BACKSPACE * 4 + "0,1" + ENTER)
    answer(child, "Training epochs", ENTER)
    answer(child, "Devices", ENTER)
    answer(child, "Training epochs", ENTER)
    screen = finish(child)
    assert child.exitstatus == 1 and screen.count("lists GPU indices") == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]
