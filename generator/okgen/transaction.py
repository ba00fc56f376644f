"""All-or-nothing changes to a project's files, through a journal in ``.okgen/transaction/``.

:func:`apply` works in two phases:

1. **Stage.** Every new file is written under ``.okgen/transaction/new/`` and every
   file about to be replaced or removed is copied to ``.okgen/transaction/backup/``.
   Nothing in the project changes yet. ``journal.json`` is written last, to a
   partial file that is then renamed: it is the point from which a half-done run
   must be rolled back. It records the sha256 of each file before and after.
2. **Apply.** Each file is moved into place with a rename (atomic per file), after
   checking that it still holds the bytes the run was planned from. Deleting
   ``journal.json`` marks the run complete; the folder is then removed.

A run killed while staging leaves the project as it was, plus a folder without a
journal that :func:`recover` deletes. A run killed while applying leaves a journal,
and :func:`recover` (called first by every okgen command inside a project) puts
back each file that holds exactly the bytes the run wrote, so the project is again
byte-identical to before the run. A file that holds other bytes was changed by
someone else since: recovery never overwrites it, and keeps the journal's copy
from before the run in ``.okgen/recovered/`` instead.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import files
from .errors import ConcurrentEditError, OkgenError
from .manifest import OKGEN_DIR, sha256

TRANSACTION = f"{OKGEN_DIR}/transaction"
RECOVERED = f"{OKGEN_DIR}/recovered"
JOURNAL = "journal.json"


@dataclass(frozen=True)
class Recovery:
    """What :func:`recover` did: files put back, and files left alone because they changed."""

    restored: int
    kept: tuple[str, ...] = ()


def apply(
    project: Path,
    writes: Mapping[str, bytes],
    removals: Iterable[str] = (),
    *,
    expected: Mapping[str, bytes | None] | None = None,
) -> None:
    """Write ``writes`` (path -> bytes) and delete ``removals``, all or nothing.

    ``expected`` (path -> bytes, None = absent) is what the caller read when it
    planned the change; a file that no longer holds it is refused, never overwritten.
    """
    root = project / TRANSACTION
    recover(project)
    expected = expected or {}
    entries = [_stage(project, root, path, data, expected) for path, data in writes.items()]
    entries += [_stage(project, root, path, None, expected) for path in removals]
    journal = {"entries": entries, "created_dirs": _missing_dirs(project, writes)}
    _write_journal(root, journal)
    try:
        for entry in entries:
            _apply_entry(project, root, entry)
    except BaseException:
        recover(project)
        raise
    files.unlink(root / JOURNAL)
    files.rmtree(root)


def recover(project: Path) -> Recovery | None:
    """Undo an interrupted :func:`apply`; None when there was nothing to undo."""
    root = project / TRANSACTION
    if not root.exists():
        return None
    recovery = rollback(project) if (root / JOURNAL).is_file() else Recovery(0)
    files.rmtree(root)
    return recovery


def rollback(project: Path) -> Recovery:
    """Put back every file that holds what the journal wrote; safe to repeat if interrupted.

    A file holding bytes the journal did not write is left as it is, and the
    journal's copy of it from before the run is kept in ``.okgen/recovered/``.
    """
    root = project / TRANSACTION
    journal = _read_journal(root / JOURNAL)
    restored, kept = 0, []
    for entry in journal["entries"]:
        target = project / entry["path"]
        current = _digest(target)
        if current == entry["before"]:
            continue  # not applied yet, or already put back
        if current != entry["after"]:
            kept.append(entry["path"])
            if entry["before"] is not None:
                copy = project / RECOVERED / f"{entry['path']}.orig"
                files.mkdir(copy.parent)
                files.write(copy, (root / "backup" / entry["path"]).read_bytes())
            continue
        if entry["before"] is None:
            files.unlink(target)
        else:
            restoring = root / "restoring"
            files.write(restoring, (root / "backup" / entry["path"]).read_bytes())
            shutil.copymode(root / "backup" / entry["path"], restoring)
            files.mkdir(target.parent)
            files.replace(restoring, target)
        restored += 1
    for folder in sorted(journal["created_dirs"], reverse=True):  # a child sorts after its parent
        path = project / folder
        if path.is_dir() and not any(path.iterdir()):
            files.rmdir(path)
    return Recovery(restored, tuple(kept))


def _stage(
    project: Path, root: Path, path: str, data: bytes | None, expected: Mapping[str, bytes | None]
) -> dict[str, Any]:
    """Copy the current file to ``backup/`` and write the new one to ``new/``."""
    target = project / path
    current = target.read_bytes() if target.is_file() else None
    if path in expected and expected[path] != current:
        raise ConcurrentEditError(
            f"{path} changed while okgen was working on it; nothing was written, run okgen again"
        )
    if current is not None:
        backup = root / "backup" / path
        files.mkdir(backup.parent)
        files.write(backup, current)
        shutil.copymode(target, backup)
    if data is not None:
        staged = root / "new" / path
        files.mkdir(staged.parent)
        files.write(staged, data)
        if current is not None:
            shutil.copymode(target, staged)
    return {
        "path": path,
        "before": None if current is None else sha256(current),
        "after": None if data is None else sha256(data),
    }


def _missing_dirs(project: Path, paths: Iterable[str]) -> list[str]:
    """Folders that applying will create, so a rollback can remove them again."""
    missing: set[str] = set()
    for path in paths:
        for parent in Path(path).parents:
            if not (project / parent).is_dir():
                missing.add(parent.as_posix())
    return sorted(missing)


def _write_journal(root: Path, journal: dict[str, Any]) -> None:
    """Write the journal whole or not at all: to a partial file, synced, then renamed."""
    files.mkdir(root)
    partial = root / f"{JOURNAL}.partial"
    files.write(partial, json.dumps(journal).encode(), sync=True)
    files.replace(partial, root / JOURNAL)


def _read_journal(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise OkgenError(
            f"cannot read the journal of an interrupted okgen run, {path}: {error}"
        ) from None


def _apply_entry(project: Path, root: Path, entry: dict[str, Any]) -> None:
    """Move one staged file into place (or remove one), if nobody changed it since staging."""
    target = project / entry["path"]
    if _digest(target) != entry["before"]:
        raise ConcurrentEditError(
            f"{entry['path']} changed while okgen was writing the project; "
            "okgen's changes were rolled back, run okgen again"
        )
    if entry["after"] is None:
        files.unlink(target)
        return
    files.mkdir(target.parent)
    files.replace(root / "new" / entry["path"], target)


def _digest(path: Path) -> str | None:
    return sha256(path.read_bytes()) if path.is_file() else None
