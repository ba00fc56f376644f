"""``okgen add``: grow a generated project without losing a byte the user wrote."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from okgen.manifest import sha256
from okgen.transaction import TRANSACTION

from .projects import (
    assert_provenance_consistent,
    base_of,
    edit,
    manifest_of,
    okgen,
    run_killed_okgen,
    snapshot,
)

PKG = "src/demo"


def test_add_head_of_another_task_brings_the_task(project: Path) -> None:
    code, out, err = okgen("add-head", "segmentation")
    assert code == 0, out + err
    manifest = manifest_of(project)
    assert manifest["tasks"] == ["classification", "segmentation"]
    for key in ("heads/segmentation", "necks/fpn", "datasets/mask_folder", "losses/dice"):
        assert key in manifest["components"], key
    assert "metrics/segmentation" in manifest["components"]
    assert manifest["task_answers"]["segmentation"]["head"] == "segmentation"
    for path in (
        "components/heads/segmentation_head.py",
        "components/necks/fpn.py",
        "components/datasets/mask_folder.py",
        "components/metrics/segmentation.py",
        "tasks/segmentation.py",
    ):
        assert (project / PKG / path).is_file(), path
    assert '"segmentation": SegmentationHead' in (project / PKG / "model.py").read_text()
    assert '"segmentation"' in (project / PKG / "config.py").read_text()
    config = (project / "configs/segmentation.yaml").read_text()
    assert "task: segmentation" in config and "format: mask_folder" in config
    assert "name: fpn" in config and "pooling: null" in config and "name: dice" in config
    assert "task: classification" in (project / "configs/train.yaml").read_text()
    assert "configs/segmentation.yaml" in manifest["files"]
    assert "train -c configs/segmentation.yaml" in out
    assert_provenance_consistent(project)


def test_add_margin_head_brings_representation_with_its_embedding_head(project: Path) -> None:
    code, out, err = okgen("add-head", "arcface")
    assert code == 0, out + err
    manifest = manifest_of(project)
    assert manifest["tasks"] == ["classification", "representation"]
    assert manifest["task_answers"]["representation"]["head"] == "arcface"
    for key in (
        "heads/arcface",
        "heads/embedding",
        "poolings/gem",
        "datasets/retrieval_folder",
        "metrics/retrieval",
        "samplers/pk",
    ):
        assert key in manifest["components"], key
    for path in (
        "components/heads/margin.py",
        "components/heads/embedding_head.py",
        "components/metrics/retrieval.py",
        "tasks/representation.py",
    ):
        assert (project / PKG / path).is_file(), path
    assert (project / "tests/test_representation.py").is_file()
    model = (project / PKG / "model.py").read_text()
    assert '"arcface": ArcFace' in model and '"embedding": EmbeddingHead' in model
    config = (project / "configs/representation.yaml").read_text()
    assert "task: representation" in config and "format: retrieval_folder" in config
    assert "margin_head:  # training only" in config and "name: arcface" in config
    assert "name: embedding" in config and "name: gem" in config
    train = (project / "configs/train.yaml").read_text()
    assert "task: classification" in train and "margin_head: null" in train
    assert "train -c configs/representation.yaml" in out
    assert_provenance_consistent(project)


def test_add_prints_the_snippet_and_updates_glue_and_requirements(project: Path) -> None:
    code, out, _ = okgen("add", "loss", "focal")
    assert code == 0
    assert "losses:\n    - name: focal\n      weight: 1.0" in out
    assert '"focal": FocalLoss' in (project / PKG / "losses.py").read_text()
    assert (project / PKG / "components/losses/focal.py").is_file()
    assert "torchvision" not in (project / "pyproject.toml").read_text()
    code, out, _ = okgen("add-loss", "focal_bce")  # multilabel only: brings that task
    assert code == 0
    assert '"torchvision>=0.29"' in (project / "pyproject.toml").read_text()
    assert manifest_of(project)["tasks"] == ["classification", "multilabel"]
    assert_provenance_consistent(project)


@pytest.mark.parametrize(
    ("args", "snippet"),
    [
        (["add-pooling", "gem"], "model:\n    pooling:\n      name: gem\n      params: {}"),
        (["add-dataset", "csv"], "data:\n    format: csv"),
        (["add-callback", "ema"], "callbacks:\n    ema: {decay: 0.999}"),
    ],
)
def test_snippet_selects_the_component(project: Path, args: list[str], snippet: str) -> None:
    code, out, _ = okgen(*args)
    assert code == 0 and snippet in out


def test_component_of_an_added_task_is_selected_in_that_tasks_config(project: Path) -> None:
    assert okgen("add-head", "segmentation")[0] == 0
    code, out, _ = okgen("add-neck", "unet")
    assert code == 0 and "with task" not in out
    assert "Select it in configs/segmentation.yaml:\n  model:\n    neck:\n      name: unet" in out
    assert '"unet": UNetDecoder' in (project / PKG / "model.py").read_text()
    assert "(1 new, 1 updated)" in out  # necks/unet.py and model.py


def test_task_option_adds_a_task_even_for_a_component_the_project_has(project: Path) -> None:
    code, out, _ = okgen("add-loss", "cross_entropy", "--task", "segmentation")
    assert code == 0 and "with task 'segmentation'" in out
    assert manifest_of(project)["tasks"] == ["classification", "segmentation"]
    config = (project / "configs/segmentation.yaml").read_text()
    assert "name: cross_entropy" in config and "name: dice" in config


def test_backbones_are_named_by_timm_model(project: Path) -> None:
    before = snapshot(project)
    code, out, _ = okgen("add-backbone", "convnext_atto")
    assert code == 0 and "already has backbone 'timm'" in out
    assert "model:\n    backbone:\n      name: convnext_atto" in out
    code, _, err = okgen("add-backbone", "resnet05")
    assert code != 0 and "unknown backbone 'resnet05'; did you mean" in err and "timm" in err
    assert snapshot(project) == before


def test_adding_twice_does_nothing(project: Path) -> None:
    assert okgen("add-neck", "fpn")[0] == 0
    before = snapshot(project)
    code, out, _ = okgen("add-neck", "fpn")
    assert code == 0 and "already has neck 'fpn'" in out
    code, out, _ = okgen("add-head", "linear")  # chosen at creation
    assert code == 0 and "already has head 'linear'" in out
    assert snapshot(project) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add-head", "segmentaton"], "unknown head 'segmentaton'; did you mean 'segmentation'"),
        (["add", "nekc", "fpn"], "unknown kind 'nekc'; did you mean 'neck'"),
        (["add-loss", "dice", "--task", "multilabel"], "does not fit task 'multilabel'"),
        (["add-loss", "dice", "--task", "detektion"], "unknown task 'detektion'"),
    ],
)
def test_bad_names_are_one_line_and_write_nothing(
    project: Path, args: list[str], message: str
) -> None:
    before = snapshot(project)
    code, _, err = okgen(*args)
    assert code != 0
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert snapshot(project) == before


def test_outside_a_project_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = okgen("add-neck", "fpn")
    assert code != 0 and "not inside an okgen project" in err


def test_dry_run_and_diff_write_nothing(project: Path) -> None:
    before = snapshot(project)
    code, out, _ = okgen("add-head", "segmentation", "--dry-run")
    assert code == 0
    assert "Would add head 'segmentation'" in out
    assert f"new             {PKG}/components/necks/fpn.py" in out
    assert f"updated         {PKG}/model.py" in out
    code, out, _ = okgen("add-head", "segmentation", "--diff")
    assert code == 0
    assert f"+++ new/{PKG}/model.py" in out and '+    "segmentation": SegmentationHead,' in out
    assert snapshot(project) == before


def test_works_from_a_subfolder(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project / PKG / "components")
    assert okgen("add-pooling", "gem")[0] == 0
    assert (project / PKG / "components/poolings/gem.py").is_file()


def test_edited_glue_is_merged_with_the_new_render(project: Path) -> None:
    model = project / PKG / "model.py"
    edit(
        model,
        "        features = self.neck(",
        "        images = images.flip(-1)  # mine\n        features = self.neck(",
    )
    losses = project / PKG / "losses.py"
    edit(losses, "Add your own", "Add my own")
    code, out, _ = okgen("add-pooling", "gem")
    assert code == 0
    assert f"merged          {PKG}/model.py" in out
    text = model.read_text()
    assert "images = images.flip(-1)  # mine" in text and '"gem": GeM,' in text
    code, out, _ = okgen("add-loss", "focal")
    assert code == 0 and f"merged          {PKG}/losses.py" in out
    text = losses.read_text()
    assert "Add my own" in text and '"focal": FocalLoss,' in text
    assert "images = images.flip(-1)  # mine" in model.read_text()
    assert_provenance_consistent(project)
    # The base is now what okgen wrote last, so only the user's lines show as edits.
    code, out, _ = okgen("diff")
    assert code == 0
    assert (
        "+        images = images.flip(-1)  # mine" in out and "+Add my own by importing it" in out
    )
    assert "GeM" not in out and "FocalLoss" not in out


def test_edits_to_shared_vendored_files_and_the_config_survive(project: Path) -> None:
    io = project / PKG / "components/datasets/_io.py"
    io.write_bytes(io.read_bytes() + b"\n# tuned for my data\n")
    config = project / "configs/train.yaml"
    edit(config, "  batch_size: 32\n", "  batch_size: 8  # my GPU is small\n")
    edited = {path: path.read_bytes() for path in (io, config)}
    code, out, _ = okgen("add-dataset", "csv")  # csv shares datasets/_io.py
    assert code == 0
    code, out, _ = okgen("add-head", "segmentation")
    assert code == 0
    for path, data in edited.items():
        assert path.read_bytes() == data, path
    assert "_io.py" not in out and "train.yaml" not in out  # nothing to merge there
    assert_provenance_consistent(project)


def test_overlapping_edit_becomes_a_conflict(project: Path) -> None:
    model = project / PKG / "model.py"
    edit(model, '    "avg": AvgPool,\n', '    "avg": AvgPool,\n    "mine": MyPool,\n')
    code, out, err = okgen("add-pooling", "gem")
    assert code == 2
    assert f"CONFLICT        {PKG}/model.py" in out
    assert "merge conflicts in" in err and f"{PKG}/model.py" in err
    text = model.read_text()
    assert '<<<<<<< yours\n    "mine": MyPool,\n=======\n    "gem": GeM,\n>>>>>>> okgen\n' in text
    # The base and the manifest record okgen's render, so resolving is a plain edit.
    base = base_of(project, f"{PKG}/model.py")
    assert b'"gem": GeM' in base and b"MyPool" not in base and b"<<<<<<<" not in base
    assert manifest_of(project)["files"][f"{PKG}/model.py"]["sha256"] == sha256(base)
    assert "poolings/gem" in manifest_of(project)["components"]
    assert_provenance_consistent(project)
    # Until the block is resolved, okgen will not merge again (blocks never nest).
    before = snapshot(project)
    code, _, err = okgen("add-loss", "focal")
    assert code == 2 and f"unresolved conflict blocks in {PKG}/model.py" in err
    assert snapshot(project) == before


def test_a_file_the_user_created_at_okgens_path_conflicts(project: Path) -> None:
    mine = project / "configs/segmentation.yaml"
    mine.write_text("task: segmentation  # my own draft\n")
    code, out, _ = okgen("add-head", "segmentation")
    assert code == 2 and "CONFLICT        configs/segmentation.yaml" in out
    text = mine.read_text()
    assert "task: segmentation  # my own draft\n" in text and "format: mask_folder" in text


def test_deleted_file_stays_deleted(project: Path) -> None:
    (project / "tests/test_training.py").unlink()
    (project / PKG / "model.py").unlink()
    code, out, _ = okgen("add-pooling", "gem")
    assert code == 0
    assert f"kept deleted    {PKG}/model.py" in out
    assert "test_training.py" not in out  # okgen has no news for it: nothing to say
    assert not (project / PKG / "model.py").exists()
    assert not (project / "tests/test_training.py").exists()
    assert b'"gem": GeM' in base_of(project, f"{PKG}/model.py")
    code, out, _ = okgen("diff")
    assert f"deleted: {PKG}/model.py" in out and "deleted: tests/test_training.py" in out
    assert_provenance_consistent(project)


def test_failure_while_applying_restores_every_byte(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from okgen import transaction

    edit(
        project / PKG / "model.py",
        "        features = self.neck(",
        "        # mine\n        features = self.neck(",
    )
    before = snapshot(project)
    apply_entry, applied = transaction._apply_entry, []

    def fail_after_five(*args: object) -> None:
        if len(applied) == 5:
            raise OSError("disk full")
        apply_entry(*args)
        applied.append(args)

    monkeypatch.setattr(transaction, "_apply_entry", fail_after_five)
    with pytest.raises(OSError, match="disk full"):
        okgen("add-head", "segmentation")
    assert len(applied) == 5
    assert snapshot(project) == before


KILL_WHILE_APPLYING = """
import okgen.transaction as t
apply_entry, count = t._apply_entry, [0]
def apply_then_die(*args):
    if count[0] == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    apply_entry(*args)
    count[0] += 1
t._apply_entry = apply_then_die
"""


def test_add_killed_while_applying_is_rolled_back_by_the_next_command(project: Path) -> None:
    before = snapshot(project)
    killed = run_killed_okgen(project, ["add-head", "segmentation"], KILL_WHILE_APPLYING)
    assert killed.returncode == -9, killed.stderr
    assert (project / TRANSACTION / "journal.json").is_file()
    assert snapshot(project) != before  # half applied
    code, _, err = okgen("diff")
    assert code == 0 and "rolled back an interrupted okgen run" in err
    assert snapshot(project) == before
    assert okgen("add-head", "segmentation")[0] == 0  # and the add then works
    assert_provenance_consistent(project)


@pytest.mark.parametrize(
    "patch",
    [
        # while copier renders the glue
        "import okgen.render as r\nr.format_python = lambda root: os.kill(os.getpid(), 9)",
        # after the backups and new files are staged, before the journal exists
        "import okgen.transaction as t\nt._write_journal = lambda *a: os.kill(os.getpid(), 9)",
    ],
    ids=["rendering", "staging"],
)
def test_add_killed_before_applying_leaves_the_project_untouched(project: Path, patch: str) -> None:
    before = snapshot(project)
    killed = run_killed_okgen(project, ["add-head", "segmentation"], patch)
    assert killed.returncode == -9, killed.stderr
    now = snapshot(project)
    assert {path: data for path, data in now.items() if not path.startswith(TRANSACTION)} == before
    code, _, err = okgen("add-head", "segmentation", "--dry-run")
    assert code == 0 and "rolled back" not in err
    assert snapshot(project) == before


def test_add_never_imports_torch(project: Path) -> None:
    script = """
import sys
from typer.testing import CliRunner
from okgen.cli import app
result = CliRunner().invoke(app, ["add-head", "segmentation"])
assert result.exit_code == 0, result.output
heavy = sorted(m for m in ("torch", "lightning", "timm", "torchvision") if m in sys.modules)
assert not heavy, heavy
"""
    subprocess.run([sys.executable, "-c", script], cwd=project, check=True)


def run_project(project: Path, *args: str, timeout: int = 300) -> str:
    """Run the generated project's own code with the okgen venv's Python."""
    result = subprocess.run(
        [sys.executable, *args],
        cwd=project,
        env={**os.environ, "PYTHONPATH": "src"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


#: Overrides that make one epoch on a few sample images quick on a CPU.
ONE_QUICK_EPOCH = [
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "trainer.precision=32-true",
    "data.num_workers=0",
    "data.batch_size=4",
]


def keep_first_files(root: Path, count: int) -> None:
    """Thin a sample dataset: the first ``count`` files of each folder (stems stay paired)."""
    for folder in [path for path in root.rglob("*") if path.is_dir()]:
        for extra in sorted(path for path in folder.iterdir() if path.is_file())[count:]:
            extra.unlink()


#: Each added task with the overrides that keep its one quick epoch small.
ADDED_TASKS = [
    ("segmentation", "segmentation", []),
    ("arcface", "representation", ["model.num_classes=8"]),  # 8 training identities
]


@pytest.mark.e2e
@pytest.mark.parametrize(("head", "task", "small"), ADDED_TASKS, ids=[t for _, t, _ in ADDED_TASKS])
def test_added_task_trains_next_to_the_original_one(
    project: Path, tmp_path: Path, head: str, task: str, small: list[str]
) -> None:
    assert okgen("add-head", head)[0] == 0
    run_project(project, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                "tests/test_config.py", "tests/test_model.py")  # fmt: skip
    for config, extra in ((f"configs/{task}.yaml", small), ("configs/train.yaml", [])):
        data, runs = tmp_path / Path(config).stem, tmp_path / "runs"
        # Overrides go before -c: the project's argparse takes them right after the verb.
        run_project(project, "-m", "demo", "sample-data", *extra, "-c", config, "--root", str(data))
        keep_first_files(data, 4)
        overrides = [f"data.root={data}", f"run_dir={runs}", *ONE_QUICK_EPOCH, *extra]
        out = run_project(project, "-m", "demo", "train", *overrides, "-c", config)
        assert "val/" in out, out
