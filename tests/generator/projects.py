"""Helpers for tests that grow real generated projects: make, copy, run okgen, snapshot."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from okgen import files
from okgen.cli import app
from okgen.manifest import MANIFEST, OBJECTS, object_path, read_object

runner = CliRunner()


def okgen(*args: str) -> tuple[int, str, str]:
    """Run okgen in-process from the current folder: ``(exit code, stdout, stderr)``."""
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def new_project(parent: Path, *args: str, name: str = "demo") -> Path:
    """``okgen new NAME --yes`` under ``parent``; extra ``args`` choose components."""
    code, out, err = okgen("new", name, "--yes", "-o", str(parent), *args)
    assert code == 0, out + err
    return parent / name


def copy_project(pristine: Path, parent: Path) -> Path:
    """A fresh copy of an already generated project (generating takes a second or two)."""
    return Path(shutil.copytree(pristine, parent / pristine.name))


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) under ``root``, by relative path."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes() if path.is_file() else None
        for path in sorted(root.rglob("*"))
    }


def manifest_of(project: Path) -> dict:
    return json.loads((project / MANIFEST).read_text())


def assert_provenance_consistent(project: Path) -> None:
    """Each recorded file has a blob with its bytes, and no other blob or journal is left."""
    files = manifest_of(project)["files"]
    for path, record in files.items():
        assert read_object(project, record["sha256"]) is not None, path
    stored = (project / OBJECTS).rglob("*")
    blobs = {p.relative_to(project).as_posix() for p in stored if p.is_file()}
    assert blobs == {object_path(record["sha256"]) for record in files.values()}
    assert not (project / ".okgen" / "transaction").exists()


def base_of(project: Path, path: str) -> bytes:
    """The base okgen keeps for ``path`` (what it last wrote there)."""
    data = read_object(project, manifest_of(project)["files"][path]["sha256"])
    assert data is not None, path
    return data


def edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must occur once) by ``new`` in ``path``, like a user would."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new))


def run_killed_okgen(project: Path, args: list[str], patch: str) -> subprocess.CompletedProcess:
    """Run okgen in a subprocess in ``project`` after ``patch`` (Python code) ran first.

    The patch typically makes a step of okgen SIGKILL its own process, to check
    what a real kill at that moment leaves behind.
    """
    script = "\n".join(
        [
            "import os, signal, sys",
            textwrap.dedent(patch),
            "from okgen.cli import app",
            f"sys.argv = ['okgen', *{args!r}]",
            "app()",
        ]
    )
    return subprocess.run(
        [sys.executable, "-c", script], cwd=project, capture_output=True, text=True, timeout=120
    )


class Killed(BaseException):
    """Stands for SIGKILL: raised by an injected fault, and by every filesystem call after it."""


#: The filesystem operations okgen funnels every project change through (okgen.files).
PRIMITIVES = ("write", "replace", "unlink", "mkdir", "rmdir", "rmtree")


@contextmanager
def kill_at(call: int | None) -> Iterator[list[int]]:
    """Make okgen's ``call``-th filesystem operation kill it (None: only count them).

    A killed ``write`` first writes half its bytes (a torn write). Once killed,
    every later operation raises :class:`Killed` too, so no cleanup handler can
    write anything, as after a real SIGKILL. Yields ``[number of operations]``.
    """
    count, dead = [0], [False]
    originals = {name: getattr(files, name) for name in PRIMITIVES}

    def wrap(name: str, operation: Callable[..., None]) -> Callable[..., None]:
        def injected(*args: Any, **kwargs: Any) -> None:
            if dead[0]:
                raise Killed
            count[0] += 1
            if count[0] == call:
                dead[0] = True
                if name == "write":
                    path, data = args
                    operation(path, data[: len(data) // 2])
                raise Killed
            operation(*args, **kwargs)

        return injected

    for name, operation in originals.items():
        setattr(files, name, wrap(name, operation))
    try:
        yield count
    finally:
        for name, operation in originals.items():
            setattr(files, name, operation)
