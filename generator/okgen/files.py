"""The few filesystem operations through which okgen changes a project or writes a new one.

Every write, rename, removal and folder creation that okgen makes in a project goes
through this module, so the fault-injection tests can stop okgen at each of them
(they replace these functions and count the calls). Call them as ``files.write(...)``,
never ``from .files import write``, so that a replaced function is the one called.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def write(path: Path, data: bytes, *, sync: bool = False) -> None:
    """Write ``data`` to ``path`` in place (``sync``: flush it to the disk before returning)."""
    with path.open("wb") as stream:
        stream.write(data)
        if sync:
            stream.flush()
            os.fsync(stream.fileno())


def replace(source: Path, target: Path) -> None:
    """Rename ``source`` onto ``target`` atomically (a file, or a folder onto nothing)."""
    os.replace(source, target)


def unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def mkdir(path: Path) -> None:
    """Create ``path`` and its missing parents (mode from the umask, like ``mkdir -p``)."""
    path.mkdir(parents=True, exist_ok=True)


def rmdir(path: Path) -> None:
    path.rmdir()


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=False)
