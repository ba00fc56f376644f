"""Real kills (SIGKILL) of okgen: recovery never overwrites the user's bytes, nothing lingers."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from okgen.transaction import RECOVERED, TRANSACTION

from .projects import okgen, run_killed_okgen, snapshot

MINE = b"# my edit\n"

#: Kill okgen once it replaced a file of the project; ``edit_before_kill``: the user saves
#: that file (after okgen wrote it) just before the kill.
KILL_AFTER_A_REPLACE = """
import okgen.transaction as t
apply_entry, applied = t._apply_entry, []
def apply_then_die(project, root, entry):
    if applied and applied[-1]["before"] and not applied[-1]["path"].startswith(".okgen"):
        if {edit_before_kill}:
            last = project / applied[-1]["path"]
            last.write_bytes(last.read_bytes() + {mine!r})
        os.kill(os.getpid(), signal.SIGKILL)
    apply_entry(project, root, entry)
    applied.append(entry)
t._apply_entry = apply_then_die
"""


def applied_files(before: dict, now: dict) -> list[str]:
    """Project files (not okgen's own) that the killed run had already replaced."""
    return [
        path
        for path, data in now.items()
        if not path.startswith(".okgen") and before.get(path) not in (None, data) and data
    ]


@pytest.mark.parametrize("order", ["edit before the kill", "edit after the kill"])
def test_recovery_keeps_an_edit_to_a_file_the_killed_run_wrote(project: Path, order: str) -> None:
    before = snapshot(project)
    patch = KILL_AFTER_A_REPLACE.format(edit_before_kill=order == "edit before the kill", mine=MINE)
    killed = run_killed_okgen(project, ["add-head", "segmentation"], patch)
    assert killed.returncode == -9, killed.stderr
    assert (project / TRANSACTION / "journal.json").is_file()
    touched = applied_files(before, snapshot(project))
    assert touched, "the run was killed after replacing files"
    if order == "edit after the kill":
        path = project / touched[-1]
        path.write_bytes(path.read_bytes() + MINE)
    edited = [path for path in touched if (project / path).read_bytes().endswith(MINE)]
    assert len(edited) == 1
    mine = (project / edited[0]).read_bytes()

    code, _, err = okgen("diff")  # read-only, yet it must recover first
    assert code == 0
    assert (project / edited[0]).read_bytes() == mine, "recovery overwrote the user's edit"
    assert f"KEPT {edited[0]} AS IT IS" in err and "rolled back an interrupted okgen run" in err
    copy = project / RECOVERED / f"{edited[0]}.orig"
    assert copy.read_bytes() == before[edited[0]]
    now = snapshot(project)
    assert {k: v for k, v in now.items() if k != edited[0] and not k.startswith(RECOVERED)} == {
        k: v for k, v in before.items() if k != edited[0]
    }
    # okgen works on: running the command again merges okgen's change into the kept edit.
    code, out, err = okgen("add-head", "segmentation")
    assert code == 0, out + err
    assert (project / edited[0]).read_bytes().count(MINE) == 1


KILL_NEW_WHILE_WRITING = """
import okgen.files as f
write, written = f.write, [0]
def write_then_die(*args, **kwargs):
    written[0] += 1
    if written[0] == 40:
        os.kill(os.getpid(), signal.SIGKILL)
    write(*args, **kwargs)
f.write = write_then_die
"""


def test_a_killed_new_leaves_staging_that_the_next_new_removes(tmp_path: Path) -> None:
    killed = run_killed_okgen(tmp_path, ["new", "demo", "--yes"], KILL_NEW_WHILE_WRITING)
    assert killed.returncode == -9, killed.stderr
    (stale,) = tmp_path.iterdir()
    assert stale.name.startswith(".okgen-staging-") and any(stale.rglob("*.py"))
    in_use = tmp_path / ".okgen-staging-1-inuse"  # another `okgen new`, still writing
    in_use.mkdir()
    fd = os.open(in_use, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert okgen("new", "other", "--yes", "-o", str(tmp_path))[0] == 0
    finally:
        os.close(fd)
    assert sorted(path.name for path in tmp_path.iterdir()) == [in_use.name, "other"]
    assert okgen("new", "demo", "--yes", "-o", str(tmp_path))[0] == 0  # no longer held
    assert sorted(path.name for path in tmp_path.iterdir()) == ["demo", "other"]


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_the_project_follows_the_umask(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        assert okgen("new", "demo", "--yes", "-o", str(tmp_path))[0] == 0
    finally:
        os.umask(previous)
    project = tmp_path / "demo"
    assert project.stat().st_mode & 0o777 == 0o777 & ~umask
    assert (project / "src/demo").stat().st_mode & 0o777 == 0o777 & ~umask
    assert (project / "pyproject.toml").stat().st_mode & 0o777 == 0o666 & ~umask
