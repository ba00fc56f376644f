"""``okgen update`` and ``okgen diff``: a newer okgen's changes merged into an edited project."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from okgen import new, render
from okgen._resources import LIBRARY, TEMPLATES

from .projects import (
    assert_provenance_consistent,
    edit,
    manifest_of,
    okgen,
    snapshot,
)

PKG = "src/demo"
HEAD = f"{PKG}/components/heads/linear_head.py"
MODEL_TEMPLATE = "project/src/{{ package_name }}/model.py.jinja"


Change = Callable[[Path, Path], None]


@pytest.fixture
def newer_okgen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Change], None]:
    """Stand in for okgen 9.9.9: ``change(library, templates)`` edits copies of both."""

    def install(change: Change) -> None:
        library = Path(shutil.copytree(LIBRARY, tmp_path / "newer" / "component_library"))
        templates = Path(shutil.copytree(TEMPLATES, tmp_path / "newer" / "templates"))
        change(library, templates)
        monkeypatch.setattr(render, "LIBRARY", library)
        monkeypatch.setattr(render, "TEMPLATES", templates)
        monkeypatch.setattr(render, "__version__", "9.9.9")
        monkeypatch.setattr(new, "__version__", "9.9.9")

    return install


def newer_linear_head(library: Path, templates: Path) -> None:
    edit(library / "heads/linear_head.py", "dropout: float = 0.0,", "dropout: float = 0.1,")


def test_update_without_changes_changes_nothing(project: Path) -> None:
    before = snapshot(project)
    code, out, _ = okgen("update")
    assert code == 0 and "no file changes" in out
    assert snapshot(project) == before


def test_newer_component_merges_with_a_separate_edit(
    project: Path, newer_okgen: Callable[[Change], None]
) -> None:
    edit(project / HEAD, "return self.layers(x)", "return self.layers(x) * 2.0  # mine")
    newer_okgen(newer_linear_head)
    code, out, _ = okgen("update")
    assert code == 0, out
    assert "from okgen 0.1.0 to 9.9.9" in out and f"merged          {HEAD}" in out
    text = (project / HEAD).read_text()
    assert "dropout: float = 0.1," in text and "return self.layers(x) * 2.0  # mine" in text
    assert manifest_of(project)["okgen_version"] == "9.9.9"
    assert_provenance_consistent(project)


def test_newer_component_conflicts_with_an_overlapping_edit(
    project: Path, newer_okgen: Callable[[Change], None]
) -> None:
    edit(project / HEAD, "dropout: float = 0.0,", "dropout: float = 0.5,  # mine")
    newer_okgen(newer_linear_head)
    code, out, err = okgen("update")
    assert code == 2 and f"CONFLICT        {HEAD}" in out and HEAD in err
    text = (project / HEAD).read_text()
    assert (
        "<<<<<<< yours\n        dropout: float = 0.5,  # mine\n=======\n"
        "        dropout: float = 0.1,\n>>>>>>> okgen\n"
    ) in text
    assert manifest_of(project)["okgen_version"] == "9.9.9"
    assert_provenance_consistent(project)
    # Resolved by hand, the next update has nothing left to merge.
    resolved = text.split("<<<<<<< yours\n")[0] + "        dropout: float = 0.5,  # mine\n"
    (project / HEAD).write_text(resolved + text.split(">>>>>>> okgen\n")[1])
    code, out, _ = okgen("update")
    assert code == 0 and "no file changes" in out


def test_newer_templates_update_glue_and_every_config(
    project: Path, newer_okgen: Callable[[Change], None]
) -> None:
    assert okgen("add-head", "segmentation")[0] == 0
    model = project / PKG / "model.py"
    edit(model, "        features = self.neck(", "        # mine\n        features = self.neck(")
    edit(project / "configs/train.yaml", "  batch_size: 32", "  batch_size: 16  # mine")
    (project / "tests/test_training.py").write_text("# my own training test\n")

    def newer_templates(library: Path, templates: Path) -> None:
        model_template = templates / MODEL_TEMPLATE
        edit(model_template, "Add your own by", "Add your own network parts by")
        config_template = templates / "project/configs/train.yaml.jinja"
        edit(config_template, "log_every_n_steps: 10", "log_every_n_steps: 20")
        (templates / "project/tests/test_training.py.jinja").unlink()
        (templates / "project/src/{{ package_name }}/throughput.py").unlink()

    newer_okgen(newer_templates)
    code, out, _ = okgen("update")
    assert code == 0, out
    assert f"merged          {PKG}/model.py" in out
    assert "Add your own network parts by" in model.read_text() and "# mine" in model.read_text()
    train = (project / "configs/train.yaml").read_text()
    assert "batch_size: 16  # mine" in train and "log_every_n_steps: 20" in train
    assert "log_every_n_steps: 20" in (project / "configs/segmentation.yaml").read_text()
    assert "task: segmentation" in (project / "configs/segmentation.yaml").read_text()
    assert (
        f"removed         {PKG}/throughput.py" in out
        and not (project / PKG / "throughput.py").exists()
    )
    assert "kept, untracked tests/test_training.py" in out
    assert (project / "tests/test_training.py").read_text() == "# my own training test\n"
    assert "tests/test_training.py" not in manifest_of(project)["files"]
    assert_provenance_consistent(project)


def test_deleted_file_stays_deleted_through_an_update(
    project: Path, newer_okgen: Callable[[Change], None]
) -> None:
    (project / HEAD).unlink()
    newer_okgen(newer_linear_head)
    code, out, _ = okgen("update")
    assert code == 0 and f"kept deleted    {HEAD}" in out
    assert not (project / HEAD).exists()
    code, out, _ = okgen("diff")
    assert f"deleted: {HEAD}" in out
    assert_provenance_consistent(project)


def test_update_dry_run_and_diff_write_nothing(
    project: Path, newer_okgen: Callable[[Change], None]
) -> None:
    newer_okgen(newer_linear_head)
    before = snapshot(project)
    code, out, _ = okgen("update", "--dry-run")
    assert code == 0 and "Would update from okgen 0.1.0 to 9.9.9" in out
    assert f"updated         {HEAD}" in out
    code, out, _ = okgen("update", "--diff")
    assert "-        dropout: float = 0.0,\n+        dropout: float = 0.1," in out
    assert snapshot(project) == before


def test_diff_shows_only_the_users_edits(project: Path) -> None:
    code, out, _ = okgen("diff")
    assert code == 0 and "No edits" in out
    edit(project / "configs/train.yaml", "  batch_size: 32", "  batch_size: 16")
    code, out, _ = okgen("diff")
    assert out.startswith("--- okgen/configs/train.yaml\n+++ yours/configs/train.yaml\n")
    assert "-  batch_size: 32\n+  batch_size: 16\n" in out
