"""Fault injection: ``new``, ``add`` and ``update`` killed at every filesystem operation.

Each command is run once to count its operations, then once per operation with
a kill there (see :func:`kill_at`: a torn write, then nothing more). The next
okgen command (``diff`` for a project, another ``new`` next to a new one) must
leave the project byte-identical to entirely before or entirely after the
command, and no byte the user edited, before the crash or after it, may be lost.

Rendering is the same for every kill point, so it is done once and reused, and
the projects live in memory (``/dev/shm``) where there is one: a few hundred
small projects are written, and folder creation on a disk costs milliseconds.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from okgen import new, render
from okgen._resources import LIBRARY
from okgen.add import add_component
from okgen.project import open_project
from okgen.update import update_project

from .projects import Killed, copy_project, edit, kill_at, okgen, snapshot

PKG = "src/demo"
LOSSES = f"{PKG}/losses.py"
HEAD = f"{PKG}/components/heads/linear_head.py"
AFTER_CRASH = b"# my edit, made after okgen was killed\n"

Command = Callable[[Path], object]


@pytest.fixture(autouse=True)
def render_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memoise rendering: what is under test is how the result is written, not copier."""
    renders: dict[str, tuple[dict[str, bytes], dict[str, str]]] = {}
    render_files = new.render_files

    def cached(data: dict, plan: object) -> tuple[dict[str, bytes], dict[str, str]]:
        key = json.dumps([data, list(plan.files)], sort_keys=True, default=str)
        if key not in renders:
            renders[key] = render_files(data, plan)
        files, origins = renders[key]
        return dict(files), dict(origins)

    monkeypatch.setattr(new, "render_files", cached)


@pytest.fixture
def tmp_path(tmp_path: Path) -> Iterator[Path]:
    """A scratch folder in memory if the machine has one, else pytest's own."""
    if not os.access("/dev/shm", os.W_OK):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="okgen-faults-", dir="/dev/shm"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def without(state: dict[str, bytes | None], path: str) -> dict[str, bytes | None]:
    return {k: v for k, v in state.items() if k != path and not k.startswith(".okgen/recovered")}


def check_every_kill_point(
    pristine: Path, tmp_path: Path, command: Command, edited: str, user_edit: str
) -> None:
    """Kill ``command`` at each operation, in a project where the user edited ``edited``."""
    start = copy_project(pristine, tmp_path / "start")
    old, mine = user_edit.split(" -> ")
    edit(start / edited, old, mine)
    before = snapshot(start)
    done = copy_project(start, tmp_path / "done")
    with kill_at(None) as count:
        command(done)
    after = snapshot(done)
    assert before != after and mine.encode() in after[edited], "the edit survives the command"
    outcomes = set()
    for call in range(1, count[0] + 1):
        root = copy_project(start, tmp_path / f"kill-{call}")
        with kill_at(call), pytest.raises(Killed):
            command(root)
        # The user edits a file the killed run was writing, before okgen runs again.
        edited_after = copy_project(root, tmp_path / f"edited-{call}")
        mine_after = (edited_after / edited).read_bytes() + AFTER_CRASH
        (edited_after / edited).write_bytes(mine_after)

        open_project(root)  # what the next okgen command, even `okgen diff`, does first
        state = snapshot(root)
        assert state in (before, after), f"killed at operation {call}: a mixed project"
        outcomes.add("before" if state == before else "after")

        open_project(edited_after)
        assert (edited_after / edited).read_bytes() == mine_after, f"edit lost ({call})"
        rest = without(snapshot(edited_after), edited)
        assert rest in (without(before, edited), without(after, edited)), call
        shutil.rmtree(root)
        shutil.rmtree(edited_after)
    assert outcomes == {"before", "after"}


def test_add_killed_at_every_operation(pristine: Path, tmp_path: Path) -> None:
    check_every_kill_point(
        pristine,
        tmp_path,
        lambda root: add_component(root, "loss", "focal"),
        LOSSES,
        "Add your own -> Add my own, before the crash,",
    )


def test_update_killed_at_every_operation(
    pristine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = Path(shutil.copytree(LIBRARY, tmp_path / "newer" / "component_library"))
    edit(library / "heads/linear_head.py", "dropout: float = 0.0,", "dropout: float = 0.1,")
    monkeypatch.setattr(render, "LIBRARY", library)
    monkeypatch.setattr(new, "__version__", "9.9.9")
    check_every_kill_point(
        pristine,
        tmp_path,
        update_project,
        HEAD,
        "return self.layers(x) -> return self.layers(x) * 2.0  # mine, before the crash",
    )


def test_new_killed_at_every_operation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed anywhere, ``new`` leaves no project, or the whole one; the next ``new`` cleans up.

    Every filesystem operation of ``new`` is in ``write_new_project`` (rendering
    writes to a temporary folder only), so the kills replay that step alone.
    """
    written = []
    write_new_project = new.write_new_project

    def recording(*args: object) -> Path:
        written.append(args)
        return write_new_project(*args)

    monkeypatch.setattr(new, "write_new_project", recording)
    reference = tmp_path / "reference"
    with kill_at(None) as count:
        assert okgen("new", "demo", "--yes", "-o", str(reference))[0] == 0
    _, files, manifest = written[0]
    complete = snapshot(reference / "demo")
    assert count[0] > len(complete) / 2  # every file is written, every folder made
    for call in range(1, count[0] + 1):
        parent = tmp_path / f"kill-{call}"
        with kill_at(call), pytest.raises(Killed):
            write_new_project(parent / "demo", files, manifest)
        if call < count[0]:  # what the next `okgen new` here does first
            render.remove_stale_staging(parent)
        else:
            assert okgen("new", "other", "--yes", "-o", str(parent))[0] == 0
            shutil.rmtree(parent / "other")
        left = [path.name for path in parent.iterdir()] if parent.exists() else []
        assert left in ([], ["demo"]), f"killed at {call}: {left}"
        if left:
            assert snapshot(parent / "demo") == complete, call
        shutil.rmtree(parent, ignore_errors=True)
