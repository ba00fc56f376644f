"""The merge engine of ``okgen add`` and ``okgen update``: a new render never loses an edit.

Each file has three versions: **base**, the bytes okgen last wrote (kept as
blobs in ``.okgen/objects/``); **yours**, the file on disk; and **okgen**'s, the new render.
An untouched file takes the new render; an edited one is merged line by line
(``merge3``, the diff3 algorithm); overlapping changes get conflict markers. A
file you deleted stays deleted. Nothing here needs git.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from merge3 import Merge3

from . import transaction
from .errors import MergeConflictError
from .manifest import (
    MANIFEST,
    OBJECTS,
    Manifest,
    encode_object,
    object_path,
    read_base,
    read_object,
    sha256,
)

NEW = "new"  # okgen writes a file that was not there
UPDATED = "updated"  # you had not edited it: it takes okgen's new version
MERGED = "merged"  # your edits and okgen's changes, combined
CONFLICT = "conflict"  # overlapping changes: conflict markers written
UNCHANGED = "unchanged"  # the file on disk stays as it is
DELETED = "deleted"  # you deleted it: it stays deleted, without okgen's changes
REMOVED = "removed"  # okgen no longer writes it and you had not edited it: deleted
ORPHANED = "orphaned"  # okgen no longer writes it but you edited it: kept, untracked
EDITED = "edited"  # okgen diff: you changed what okgen wrote

#: How reports name each status that changes something (unchanged files go unlisted).
LABELS = {
    NEW: "new",
    UPDATED: "updated",
    MERGED: "merged",
    CONFLICT: "CONFLICT",
    DELETED: "kept deleted",
    REMOVED: "removed",
    ORPHANED: "kept, untracked",
}

MARKERS = (b"<<<<<<< yours", b"=======", b">>>>>>> okgen")


@dataclass(frozen=True)
class FileChange:
    """What a new render does to one file: ``before`` and ``after`` are its bytes on disk."""

    path: str
    status: str
    before: bytes | None
    after: bytes | None

    @property
    def touches_disk(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class MergeResult:
    changes: tuple[FileChange, ...]

    @property
    def reported(self) -> list[FileChange]:
        """The changes a report lists: every file that is not simply left as it is."""
        return [c for c in self.changes if c.status != UNCHANGED]

    @property
    def conflicts(self) -> list[str]:
        return [c.path for c in self.changes if c.status == CONFLICT]

    def summary(self) -> str:
        """E.g. ``2 new, 5 updated, 1 merged, 1 kept deleted``."""
        counts = Counter(c.status for c in self.reported)
        return ", ".join(f"{counts[s]} {label}" for s, label in LABELS.items() if counts[s])

    def raise_for_conflicts(self) -> None:
        if self.conflicts:
            raise MergeConflictError(
                f"merge conflicts in {', '.join(self.conflicts)}; edit the "
                "'<<<<<<< yours' ... '>>>>>>> okgen' blocks to keep what you want"
            )


def merge_bytes(base: bytes, yours: bytes, theirs: bytes) -> tuple[bytes, bool]:
    """The 3-way merge of one file, and whether it has conflicts.

    Changes made on one side only are taken; identical changes on both sides are
    taken once; different changes to the same lines become a conflict block::

        <<<<<<< yours
        your lines
        =======
        okgen's lines
        >>>>>>> okgen
    """
    if yours == theirs or theirs == base:
        return yours, False
    if yours == base:
        return theirs, False
    merger = Merge3(base.splitlines(True), yours.splitlines(True), theirs.splitlines(True))
    newline = b"\r\n" if b"\r\n" in yours else b"\n"
    out: list[bytes] = []
    conflicted = False
    for region in merger.reprocess_merge_regions(merger.merge_regions()):
        kind = region[0]
        if kind == "unchanged":
            out += merger.base[region[1] : region[2]]
        elif kind in ("a", "same"):
            out += merger.a[region[1] : region[2]]
        elif kind == "b":
            out += merger.b[region[1] : region[2]]
        else:  # conflict
            conflicted = True
            *_, a_start, a_end, b_start, b_end = region
            out += _block(MARKERS[0], merger.a[a_start:a_end], newline)
            out += _block(MARKERS[1], merger.b[b_start:b_end], newline)
            out += [MARKERS[2] + newline]
    return b"".join(out), conflicted


def _block(marker: bytes, lines: Sequence[bytes], newline: bytes) -> list[bytes]:
    """``marker`` then ``lines``, the last one ended so the next marker starts a line."""
    block = [marker + newline, *lines]
    if not block[-1].endswith((b"\n", b"\r")):
        block[-1] += newline
    return block


def merge_file(path: str, base: bytes | None, yours: bytes | None, theirs: bytes) -> FileChange:
    """Decide one file: ``base`` None = okgen never wrote it, ``yours`` None = not on disk."""
    if yours is None:
        if base is None:
            return FileChange(path, NEW, None, theirs)
        # Deleted stays deleted; worth reporting only when okgen's version changed.
        return FileChange(path, UNCHANGED if base == theirs else DELETED, None, None)
    merged, conflicted = merge_bytes(base or b"", yours, theirs)
    if conflicted:
        status = CONFLICT
    elif merged == yours:
        status = UNCHANGED
    elif yours == base:
        status = UPDATED
    else:
        status = MERGED
    return FileChange(path, status, yours, merged)


def plan_merge(project: Path, old: Manifest, files: dict[str, bytes]) -> MergeResult:
    """What bringing ``project`` to the render ``files`` does to each file; writes nothing.

    Refuses while an earlier merge's conflict blocks are still unresolved, so
    blocks never nest.
    """
    unresolved = [path for path in old.files if _has_markers(_read(project / path))]
    if unresolved:
        raise MergeConflictError(
            f"unresolved conflict blocks in {', '.join(unresolved)}; "
            "resolve them before okgen merges again"
        )
    changes = [
        merge_file(path, read_base(project, old, path), _read(project / path), theirs)
        for path, theirs in sorted(files.items())
    ]
    for path in sorted(set(old.files) - set(files)):
        yours, base = _read(project / path), read_base(project, old, path)
        if yours is None or yours == base:
            changes.append(FileChange(path, REMOVED, yours, None))
        else:
            changes.append(FileChange(path, ORPHANED, yours, yours))
    return MergeResult(tuple(changes))


def apply_merge(
    project: Path, old: Manifest, result: MergeResult, files: dict[str, bytes], new: Manifest
) -> None:
    """Write the merged files, the new base blobs and the manifest in one transaction.

    The base becomes the new render for every file, conflicted and deleted ones
    included, so the next merge compares against what okgen last wrote. Blobs
    that no file refers to any more are removed in the same transaction.
    """
    changed = [c for c in result.changes if c.touches_disk]
    writes = {c.path: c.after for c in changed if c.after is not None}
    removals = [c.path for c in changed if c.after is None]
    blobs = {sha256(data): data for data in files.values()}
    for digest, data in blobs.items():
        if read_object(project, digest) is None:
            writes[object_path(digest)] = encode_object(data)
    stored = (p.relative_to(project).as_posix() for p in (project / OBJECTS).glob("*/*"))
    removals += sorted(set(stored) - {object_path(digest) for digest in blobs})
    manifest = new.to_json().encode()
    if _read(project / MANIFEST) != manifest:
        writes[MANIFEST] = manifest
    if writes or removals:
        expected = {c.path: c.before for c in changed}
        transaction.apply(project, writes, removals, expected=expected)


def user_edits(project: Path, manifest: Manifest) -> list[FileChange]:
    """Every file that differs from what okgen wrote: ``before`` = okgen's, ``after`` = yours."""
    edits = []
    for path in manifest.files:
        base, yours = read_base(project, manifest, path), _read(project / path)
        if base != yours:
            edits.append(FileChange(path, DELETED if yours is None else EDITED, base, yours))
    return edits


def unified_diff(
    path: str, before: bytes | None, after: bytes | None, labels: Iterable[str]
) -> str:
    """A ``diff -u`` of one file; ``labels`` name the two sides (e.g. okgen, yours)."""
    old_label, new_label = labels
    return "".join(
        difflib.unified_diff(
            _text_lines(before),
            _text_lines(after),
            fromfile=f"{old_label}/{path}" if before is not None else "/dev/null",
            tofile=f"{new_label}/{path}" if after is not None else "/dev/null",
        )
    )


def _text_lines(data: bytes | None) -> list[str]:
    lines = (data or b"").decode("utf-8", errors="replace").splitlines(True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def _has_markers(data: bytes | None) -> bool:
    lines = (data or b"").splitlines()
    return MARKERS[0] in lines and MARKERS[2] in lines


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None
