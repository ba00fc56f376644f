"""The merge base and the manifest: safe from ordinary tools, checked on opening, repairable."""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path

import pytest

from okgen import new
from okgen.manifest import MANIFEST, OBJECTS, OLD_BASE, object_path, sha256

from .projects import (
    assert_provenance_consistent,
    base_of,
    edit,
    manifest_of,
    new_project,
    okgen,
    snapshot,
)

PKG = "src/demo"
MODEL = f"{PKG}/model.py"
LOSSES = f"{PKG}/losses.py"


def mark_model(project: Path) -> None:
    """The user's edit: one comment line in the model."""
    neck = "        features = self.neck("
    edit(project / MODEL, neck, "        # mine\n" + neck)


def test_the_base_is_no_source_tree_that_tools_would_find(project: Path) -> None:
    okgen_dir = [path for path in (project / ".okgen").rglob("*") if path.is_file()]
    assert not [path for path in okgen_dir if path.suffix == ".py"]
    model = (project / MODEL).read_bytes()
    for path in okgen_dir:  # grep for a line of the model finds only the model itself
        assert b"class ImageModel" not in path.read_bytes(), path
    blob = project / object_path(sha256(model))
    assert zlib.decompress(blob.read_bytes()) == model
    assert_provenance_consistent(project)


def test_lost_blobs_of_untouched_files_are_rebuilt_and_cause_no_false_conflicts(
    project: Path,
) -> None:
    shutil.rmtree(project / OBJECTS)
    code, out, err = okgen("diff")
    assert code == 0 and "No edits" in out
    assert "rebuilt" in err and "from untouched files" in err
    shutil.rmtree(project / OBJECTS)
    code, out, err = okgen("add-loss", "focal")
    assert code == 0, out + err
    losses = (project / LOSSES).read_text()
    assert "<<<<<<<" not in losses and '"focal": FocalLoss' in losses
    assert_provenance_consistent(project)


def test_a_blob_rewritten_by_a_tool_is_detected_and_rebuilt(project: Path) -> None:
    digest = manifest_of(project)["files"][MODEL]["sha256"]
    blob = project / object_path(digest)
    blob.write_bytes(zlib.compress(b"renamed_by_an_ide = True\n"))
    code, out, err = okgen("diff")
    assert code == 0 and "No edits" in out and "rebuilt 1 missing or damaged blobs" in err
    assert zlib.decompress(blob.read_bytes()) == (project / MODEL).read_bytes()


def test_a_lost_base_of_an_edited_file_is_an_error_until_repaired(project: Path) -> None:
    mark_model(project)
    shutil.rmtree(project / OBJECTS)
    before = snapshot(project)
    for command in (["diff"], ["add-loss", "focal"], ["update"]):
        code, _, err = okgen(*command)
        assert code == 1, command
        message = err.strip().splitlines()[-1]
        assert message == (
            f"error: the merge base of {MODEL} is missing or damaged in {OBJECTS}; "
            "run `okgen repair-base` to rebuild it"
        )
    assert {k for k in snapshot(project) if k not in before} <= {
        k for k in snapshot(project) if k.startswith(OBJECTS)
    }  # only the untouched files' blobs came back
    code, out, _ = okgen("repair-base")
    assert code == 0 and f"rebuilt         {MODEL}" in out  # this okgen renders it again
    code, out, _ = okgen("diff")
    added = [line for line in out.splitlines() if line.startswith("+") and line[:3] != "+++"]
    assert added == ["+        # mine"] and "\n-" not in out
    assert_provenance_consistent(project)


def test_repair_base_takes_your_file_only_when_asked(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mark_model(project)
    (project / f"{PKG}/throughput.py").unlink()
    manifest = manifest_of(project)
    for path in (MODEL, f"{PKG}/throughput.py"):
        (project / object_path(manifest["files"][path]["sha256"])).unlink()
    with monkeypatch.context() as patch:  # an okgen that renders differently
        patch.setattr(new, "render_files", lambda data, plan: ({}, {}))
        code, _, err = okgen("repair-base")
        assert code == 1 and "cannot rebuild the merge base of" in err
        assert "--accept-current" in err
        code, out, _ = okgen("repair-base", "--accept-current")
        assert code == 0 and f"yours as base   {MODEL}" in out
    code, out, err = okgen("diff")
    assert code == 0 and "# mine" not in out, out + err  # your file is now the base
    assert f"{PKG}/throughput.py" not in manifest_of(project)["files"]
    assert manifest_of(project)["files"][MODEL]["origin"] == "yours"
    assert_provenance_consistent(project)


def test_the_old_base_folder_is_migrated_into_blobs(project: Path) -> None:
    """Projects of okgen 0.1 kept plain copies in .okgen/base/; opening moves them."""
    edit(project / LOSSES, "Add your own", "Add my own")
    files = manifest_of(project)["files"]
    for path in files:
        copy = project / OLD_BASE / path
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(base_of(project, path))
    shutil.rmtree(project / OBJECTS)
    code, out, err = okgen("add-loss", "focal")
    assert code == 0 and "moved the merge base" in err
    assert f"merged          {LOSSES}" in out
    text = (project / LOSSES).read_text()
    assert "Add my own" in text and '"focal": FocalLoss' in text
    assert not (project / OLD_BASE).exists()
    assert_provenance_consistent(project)


def test_same_answers_render_byte_identical_projects(tmp_path: Path) -> None:
    """Two runs of `okgen new` (two processes' worth of state) write the same bytes."""
    first = new_project(tmp_path / "one", "--loss", "focal", "--callback", "ema")
    second = new_project(tmp_path / "two", "--loss", "focal", "--callback", "ema")
    assert snapshot(first) == snapshot(second)
    manifest = manifest_of(first)
    assert manifest["formatter"] == "ruff 0.17.6"
    assert not {"created", "timestamp", "date"} & set(manifest)


def test_the_formatter_okgen_runs_is_the_one_it_pins() -> None:
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"ruff==0.17.6"' in pyproject
    assert new.formatter() == "ruff 0.17.6"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "manifest.json is empty; restore it from version control"),
        ("  \n", "manifest.json is empty"),
        ("{}", "not a valid okgen manifest: okgen_version: Field required (and 5 more problems)"),
        ("[]", "not a valid okgen manifest: the top level: Input should be an object"),
        ("{not json", "not a valid okgen manifest: the top level: Invalid JSON"),
        ('{"okgen_version": 1}', "okgen_version: Input should be a valid string"),
    ],
)
def test_a_broken_manifest_is_a_one_line_error_naming_it(
    project: Path, text: str, message: str
) -> None:
    (project / MANIFEST).write_text(text)
    code, _, err = okgen("diff")
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert str(project / MANIFEST) in err and message in err


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("tasks", "classification", "tasks: Input should be a valid array"),
        ("components", [1], "components.0: Input should be a valid string"),
        ("answers", None, "answers: Input should be an object"),
        ("files", {"a.py": {"sha256": "x", "origin": "template"}}, "files.a.py.sha256: String"),
        ("files", {"a.py": {"sha256": "0" * 64}}, "files.a.py.origin: Field required"),
        ("files", {"../x": {"sha256": "0" * 64, "origin": "t"}}, "'../x', which is not a path"),
        ("files", {"/etc/x": {"sha256": "0" * 64, "origin": "t"}}, "'/etc/x', which is not"),
        ("task_answers", [], "task_answers: Input should be an object"),
        ("formatter", 17, "formatter: Input should be a valid string"),
        ("surprise", 1, "surprise: Unexpected keyword argument"),
    ],
)
def test_every_wrong_manifest_field_is_named(
    project: Path, key: str, value: object, message: str
) -> None:
    manifest = manifest_of(project)
    manifest[key] = value
    (project / MANIFEST).write_text(json.dumps(manifest))
    code, _, err = okgen("add-loss", "focal")
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert message in err, err


def test_a_missing_manifest_key_is_named(project: Path) -> None:
    manifest = manifest_of(project)
    del manifest["package_name"]
    (project / MANIFEST).write_text(json.dumps(manifest))
    code, _, err = okgen("update")
    assert code == 1 and "package_name: Field required" in err
