"""All-or-nothing changes to a project's files, through a journal in ``.okgen/transaction/``.

:func:`apply` works in two phases:

1. **Stage.** Every new file is written under ``.okgen/transaction/new/`` and every
   file about to be replaced or removed is copied to ``.okgen/transaction/backup/``.
   Nothing in the project changes yet. ``journal.json`` is written last, atomically:
   it is the point from which a half-done run must be rolled back.
2. **Apply.** Each file is moved into place with ``os.replace`` (atomic per file).
   Deleting ``journal.json`` marks the run complete; the folder is then removed.

A run killed while staging leaves the project as it was, plus a folder without a
journal that :func:`recover` deletes. A run killed while applying leaves a journal,
and :func:`recover` (called first by every okgen command inside a project) restores
every backup, so the project is again byte-identical to before the run.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .manifest import OKGEN_DIR

TRANSACTION = f"{OKGEN_DIR}/transaction"
JOURNAL = "journal.json"


def apply(project: Path, writes: Mapping[str, bytes], removals: Iterable[str] = ()) -> None:
    """Write ``writes`` (path -> bytes) and delete ``removals``, all or nothing."""
    root = project / TRANSACTION
    recover(project)
    entries = [_stage(project, root, path, data) for path, data in writes.items()]
    entries += [_stage(project, root, path, None) for path in removals]
    journal = {"entries": entries, "created_dirs": _missing_dirs(project, writes)}
    _write_journal(root, journal)
    try:
        for entry in entries:
            _apply_entry(project, root, entry)
    except BaseException:
        recover(project)
        raise
    (root / JOURNAL).unlink()
    shutil.rmtree(root)


def recover(project: Path) -> int | None:
    """Undo an interrupted :func:`apply`; the number of files restored, None if none was found."""
    root = project / TRANSACTION
    if not root.exists():
        return None
    restored = rollback(project) if (root / JOURNAL).is_file() else 0
    shutil.rmtree(root)
    return restored


def rollback(project: Path) -> int:
    """Put back every file the journal lists; safe to repeat if it is interrupted itself."""
    root = project / TRANSACTION
    journal = json.loads((root / JOURNAL).read_text())
    for entry in journal["entries"]:
        target = project / entry["path"]
        if entry["existed"]:
            restoring = root / "restoring"
            shutil.copy2(root / "backup" / entry["path"], restoring)
            os.replace(restoring, target)
        elif target.is_file():
            target.unlink()
    for folder in sorted(journal["created_dirs"], key=len, reverse=True):
        path = project / folder
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return len(journal["entries"])


def _stage(project: Path, root: Path, path: str, data: bytes | None) -> dict[str, Any]:
    """Copy the current file to ``backup/`` and write the new one to ``new/``."""
    target = project / path
    existed = target.is_file()
    if existed:
        backup = root / "backup" / path
        backup.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(target, backup)
    if data is not None:
        staged = root / "new" / path
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_bytes(data)
        if existed:
            shutil.copymode(target, staged)
    return {"path": path, "existed": existed, "remove": data is None}


def _missing_dirs(project: Path, paths: Iterable[str]) -> list[str]:
    """Folders that applying will create, so a rollback can remove them again."""
    missing: set[str] = set()
    for path in paths:
        for parent in Path(path).parents:
            if parent != Path(".") and not (project / parent).is_dir():
                missing.add(parent.as_posix())
    return sorted(missing)


def _write_journal(root: Path, journal: dict[str, Any]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    partial = root / f"{JOURNAL}.partial"
    with partial.open("w") as stream:
        json.dump(journal, stream, indent=1)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(partial, root / JOURNAL)


def _apply_entry(project: Path, root: Path, entry: dict[str, Any]) -> None:
    target = project / entry["path"]
    if entry["remove"]:
        target.unlink(missing_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(root / "new" / entry["path"], target)
