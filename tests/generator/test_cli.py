"""``okgen`` through Typer's CliRunner: what users type, what they get back."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from okgen import __version__
from okgen._resources import LIBRARY
from okgen.catalogue import load_catalogue
from okgen.cli import app
from okgen.manifest import MANIFEST, read_object, sha256
from okgen.questions import QUESTIONS

runner = CliRunner()


def okgen(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_version_and_help() -> None:
    assert okgen("--version")[1].strip() == f"okgen {__version__}"
    code, out, _ = okgen("new", "--help")
    assert code == 0 and "--dataset-format" in out and "--unfreeze-epoch" in out


def test_new_with_defaults_writes_a_complete_project(tmp_path: Path) -> None:
    code, out, _ = okgen("new", "my-project", "--yes", "--output-dir", str(tmp_path))
    assert code == 0, out
    project = tmp_path / "my-project"
    manifest = json.loads((project / MANIFEST).read_text())
    assert manifest["okgen_version"] == __version__
    assert manifest["answers"]["task"] == "classification"
    assert manifest["package_name"] == "my_project"
    for path, record in manifest["files"].items():
        data = (project / path).read_bytes()
        assert sha256(data) == record["sha256"], path
        assert read_object(project, record["sha256"]) == data, path
        if record["origin"].startswith("library:"):
            assert data == (LIBRARY / record["origin"].removeprefix("library:")).read_bytes()
    vendored = {Path(p).name for p in manifest["files"] if "/components/" in p}
    assert {"timm_backbone.py", "identity.py", "avg_pool.py", "linear_head.py"} <= vendored
    assert "fpn.py" not in vendored and "gem.py" not in vendored  # nothing unchosen
    assert [p.name for p in tmp_path.iterdir()] == ["my-project"]  # no staging leftovers


def test_flags_choose_components(tmp_path: Path) -> None:
    code, out, _ = okgen(
        "new",
        "seg",
        "--yes",
        "-o",
        str(tmp_path),
        "--task",
        "segmentation",
        "--neck",
        "unet",
        "--loss",
        "focal",
        "--loss",
        "lovasz",
        "--backbone",
        "convnext_atto",
    )
    assert code == 0, out
    config = (tmp_path / "seg" / "configs" / "train.yaml").read_text()
    assert "name: unet" in config and "name: lovasz" in config and "name: convnext_atto" in config
    assert (tmp_path / "seg/src/seg/components/losses/lovasz.py").exists()
    assert not (tmp_path / "seg/src/seg/components/losses/dice.py").exists()


def test_answers_file_replays_a_project(tmp_path: Path) -> None:
    okgen("new", "first", "--yes", "-o", str(tmp_path), "--pooling", "gem", "--num-classes", "7")
    code, out, _ = okgen(
        "new", "second", "--answers", str(tmp_path / "first" / MANIFEST), "-o", str(tmp_path)
    )
    assert code == 0, out
    first = json.loads((tmp_path / "first" / MANIFEST).read_text())
    second = json.loads((tmp_path / "second" / MANIFEST).read_text())
    assert first["answers"] == second["answers"]
    assert second["answers"]["pooling"] == "gem" and second["answers"]["num_classes"] == 7


def test_answer_text_is_never_template_code(tmp_path: Path) -> None:
    description = 'Cats "&" {{ 7 * 7 }} {% if x %}'
    code, out, _ = okgen("new", "txt", "--yes", "-o", str(tmp_path), "--description", description)
    assert code == 0, out
    readme = (tmp_path / "txt" / "README.md").read_text()
    assert description in readme and "49" not in readme
    pyproject = tomllib.loads((tmp_path / "txt" / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == description


def test_a_tasks_memory_figure_reaches_its_readme(tmp_path: Path) -> None:
    memory = load_catalogue().task("self_supervised").memory
    assert memory is not None
    code, out, _ = okgen("new", "mem", "--yes", "--task", "self_supervised", "-o", str(tmp_path))
    assert code == 0, out
    readme = " ".join((tmp_path / "mem" / "README.md").read_text().split())
    assert f"**Memory**: {' '.join(memory.split())}." in readme


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["new", "2bad"], "invalid project name '2bad'"),
        (["new", "p", "--backbone", "resnet81"], "unknown backbone 'resnet81'; did you mean"),
        (["new", "p", "--pooling", "gme"], "unknown pooling 'gme'; did you mean 'gem'"),
        (["new", "p", "--head", "segmentation"], "does not fit task 'classification'"),
        (["new", "p", "--task", "segmentation", "--neck", "identity"], "compatible"),
        (["new", "p", "--image-size", "50"], "image_size"),
        (["new", "p", "--precision", "fp8"], "precision"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    code, _, err = okgen(*args, "--yes", "--output-dir", str(tmp_path))
    assert code != 0
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_existing_non_empty_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    code, _, err = okgen("new", "taken", "--yes", "-o", str(tmp_path))
    assert code != 0 and "already exists and is not empty" in err
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_existing_empty_directory_is_used(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, out, _ = okgen("new", "empty", "--yes", "-o", str(tmp_path))
    assert code == 0, out
    assert (tmp_path / "empty" / MANIFEST).is_file()


def test_malformed_answers_file(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text("task: classification\nnekc: fpn\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, _, err = okgen("new", "p", "--answers", str(answers), "-o", str(out_dir))
    assert code != 0 and "unknown key 'nekc'" in err
    assert list(out_dir.iterdir()) == []


def test_list_shows_catalogue() -> None:
    code, out, _ = okgen("list", "heads")
    assert code == 0 and "segmentation" in out and "linear" in out and "necks" not in out
    code, _, err = okgen("list", "hedas")
    assert code != 0 and "did you mean 'head'" in err
    assert okgen("list", "loss")[0] == 0 and okgen("list", "losses")[0] == 0


def test_new_and_help_never_import_torch_or_prompt_libraries(tmp_path: Path) -> None:
    script = f"""
import sys
from typer.testing import CliRunner
from okgen.cli import app
runner = CliRunner()
args = ["new", "p", "--yes", "-o", {str(tmp_path)!r}, "--backbone", "mobilenetv3_small_100"]
result = runner.invoke(app, args)
assert result.exit_code == 0, result.output
heavy = ("torch", "lightning", "timm", "torchvision", "questionary", "prompt_toolkit", "rich")
assert not [m for m in heavy if m in sys.modules], sorted(m for m in heavy if m in sys.modules)
assert runner.invoke(app, ["--help"]).exit_code == 0  # Typer draws help with rich
assert runner.invoke(app, ["new", "--help"]).exit_code == 0
heavy = heavy[:-1]
assert not [m for m in heavy if m in sys.modules], sorted(m for m in heavy if m in sys.modules)
import questionary  # the real one stays importable
assert questionary.__file__ and callable(questionary.confirm)
"""
    subprocess.run([sys.executable, "-c", script], check=True)


def test_new_help_groups_the_questions_in_panels() -> None:
    code, out, _ = okgen("new", "--help")
    assert code == 0
    panels = ["Task and model", "Data", "Hardware", "Training", "Output"]
    at = [out.index(f"─ {panel} ─") for panel in panels]
    assert at == sorted(at), out
    section = {panel: out[start:] for panel, start in zip(panels, at, strict=True)}
    for question in QUESTIONS:  # each option is listed after its own panel's title
        option = "--" + question.param.replace("_", "-")
        assert option in section[question.panel].split("╰")[0], (option, question.panel)
    assert "--output-dir" in section["Output"]


def test_new_prints_what_it_vendored_and_the_next_commands(tmp_path: Path) -> None:
    code, out, _ = okgen(
        "new", "my-seg", "--yes", "-o", str(tmp_path / "a b"), "--task", "segmentation"
    )
    assert code == 0, out
    manifest = json.loads((tmp_path / "a b" / "my-seg" / MANIFEST).read_text())
    lines = out.splitlines()
    vendored = lines[lines.index("Vendored into src/my_seg/components/ (edit them freely):") + 1 :]
    listed = {}
    for line in vendored[: vendored.index("Next:")]:
        kind, names = line.split(maxsplit=1)
        listed[kind] = names.split(", ")
    assert sorted(f"{k}/{n}" for k, names in listed.items() for n in names) == sorted(
        manifest["components"]
    )
    assert listed["necks"] == ["fpn"] and "poolings" not in listed
    commands = [line.strip() for line in vendored[vendored.index("Next:") + 1 :]]
    assert commands == [
        f"cd '{tmp_path / 'a b' / 'my-seg'}'",
        'pip install -e ".[dev]"',
        "python -m my_seg sample-data",
        "python -m my_seg train",
        "python -m my_seg test",
    ]


def test_list_piped_is_one_table_line_per_component() -> None:
    code, out, _ = okgen("list")  # CliRunner's output is not a terminal
    assert code == 0
    catalogue = load_catalogue()
    lines = out.splitlines()
    assert all(line == line.rstrip() and "\x1b" not in line for line in lines)
    for components in catalogue.components.values():
        for c in components.values():
            rows = [line for line in lines if line.split()[:1] == [c.name] and c.summary in line]
            assert len(rows) == 1 and all(r in rows[0] for r in c.requires), (c.key, rows)
    assert "Any other timm model name works too" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--devices", "abc"], "devices: expected auto, a positive count"),
        (["--devices", "0"], "devices: expected auto"),
        (["--devices", "0,0"], "devices: expected auto"),
        (["--description", "two\nlines"], "description: must be one line of text"),
        (["--task", "segmentation", "--pooling", "gem"], "that task takes no pooling"),
        (["--callback", "unfreeze"], "callback 'unfreeze' is part of every project"),
        (["--backbone", "vit_tiny_patch16_225"], "did you mean 'vit_tiny_patch16_224'"),
        (["--max-epochs", "0"], "max_epochs: must be at least 1"),
        (["--callback", "ema", "--callback", "ema"], "callback 'ema' is given twice"),
        (["--unfreeze-epoch", "6"], "unfreeze_epoch 6 is not below max_epochs 6"),
        (["--accelerator", "cpu", "--devices", "0,1"], "lists GPU indices, but the accelerator"),
    ],
)
def test_invalid_answers_are_one_line_and_write_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    code, _, err = okgen("new", "p", "--yes", "-o", str(tmp_path), *args)
    assert code != 0
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("devices", ["auto", "2", "0,1", "1,"])
def test_devices_take_a_count_or_gpu_indices(tmp_path: Path, devices: str) -> None:
    code, out, err = okgen("new", "p", "--yes", "-o", str(tmp_path), "--devices", devices)
    assert code == 0, out + err
    assert f"  devices: {devices}  #" in (tmp_path / "p/configs/train.yaml").read_text()


def test_a_very_long_name_is_refused_in_one_line(tmp_path: Path) -> None:
    code, _, err = okgen("new", "a" * 300, "--yes", "-o", str(tmp_path))
    assert code != 0 and "at most 100 are allowed" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_unusable_output_folders_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "file").write_text("mine")
    before = sorted(p.name for p in tmp_path.iterdir())
    for output, message in [
        (tmp_path / "dangling", "is a symlink to nothing"),
        (tmp_path / "file", "is not a folder"),
        (tmp_path / "file" / "sub", "is not a folder"),
        (Path("/proc"), "cannot write /proc/p"),
        (Path("/proc/okgen-test"), "cannot write /proc/okgen-test/p"),
    ]:
        code, _, err = okgen("new", "p", "--yes", "-o", str(output))
        assert code != 0 and message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "file").read_text() == "mine"


def test_long_text_keeps_the_project_lint_clean_and_round_trips(tmp_path: Path) -> None:
    description = 'Segments ships in harbour images, Ätna 😀 "quoted" and {{ x }}; ' * 5
    code, out, _ = okgen("new", "txt", "--yes", "-o", str(tmp_path), "--description", description)
    assert code == 0, out
    project = tmp_path / "txt"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == description
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--line-length", "100", "src"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout
    tree = ast.parse((project / "src/txt/cli.py").read_text())
    given = [k.value for n in ast.walk(tree) if isinstance(n, ast.Call) for k in n.keywords]
    assert description in [ast.literal_eval(v) for v in given if isinstance(v, ast.Constant)]


def test_any_timm_model_is_accepted_with_a_note(tmp_path: Path) -> None:
    code, out, err = okgen(
        "new", "vit", "--yes", "-o", str(tmp_path), "--backbone", "vit_tiny_patch16_224"
    )
    assert code == 0, out + err
    assert "note: backbone 'vit_tiny_patch16_224' is a timm model outside the families" in err
    assert "python -m vit check-model" in err
    config = (tmp_path / "vit/configs/train.yaml").read_text()
    assert "name: vit_tiny_patch16_224" in config and "img_size" not in config
    code, out, err = okgen("new", "r", "--yes", "-o", str(tmp_path), "--backbone", "resnet50")
    assert code == 0 and "note:" not in err
