"""The merge engine and the transaction journal, on small inline files."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from okgen import transaction
from okgen.errors import BaseDamagedError, ConcurrentEditError, MergeConflictError
from okgen.manifest import (
    OBJECTS,
    Manifest,
    object_path,
    provenance_files,
    read_base,
    read_manifest,
    read_object,
    sha256,
)
from okgen.merge import (
    CONFLICT,
    DELETED,
    EDITED,
    MERGED,
    NEW,
    ORPHANED,
    REMOVED,
    UNCHANGED,
    UPDATED,
    FileChange,
    apply_merge,
    merge_bytes,
    merge_file,
    plan_merge,
    unified_diff,
    user_edits,
)

from .projects import snapshot

BASE = b"".join(f"line {i}\n".encode() for i in range(1, 11))


def change(data: bytes, line: int, text: str) -> bytes:
    lines = data.splitlines(True)
    lines[line - 1] = text.encode() + b"\n"
    return b"".join(lines)


def test_edits_on_separate_lines_merge_cleanly() -> None:
    yours = change(BASE, 2, "my line 2")
    theirs = change(BASE, 8, "okgen line 8")
    merged, conflicted = merge_bytes(BASE, yours, theirs)
    assert not conflicted
    assert merged == change(change(BASE, 2, "my line 2"), 8, "okgen line 8")


def test_one_sided_changes_take_that_side() -> None:
    edited = change(BASE, 5, "five")
    assert merge_bytes(BASE, BASE, edited) == (edited, False)
    assert merge_bytes(BASE, edited, BASE) == (edited, False)


def test_identical_changes_are_taken_once() -> None:
    both = change(BASE, 3, "same fix") + b"appended by both\n"
    assert merge_bytes(BASE, both, both) == (both, False)
    yours = change(both, 9, "only mine")
    merged, conflicted = merge_bytes(BASE, yours, both)
    assert not conflicted and merged == yours


def test_overlapping_changes_conflict_with_standard_markers() -> None:
    merged, conflicted = merge_bytes(BASE, change(BASE, 4, "mine"), change(BASE, 4, "okgen's"))
    assert conflicted
    expected = b"<<<<<<< yours\nmine\n=======\nokgen's\n>>>>>>> okgen\n"
    assert merged == BASE.replace(b"line 4\n", expected)


def test_markers_start_their_own_line_when_the_file_lacks_a_final_newline() -> None:
    merged, conflicted = merge_bytes(b"a\nb", b"a\nmine", b"a\ntheirs")
    assert conflicted
    assert merged == b"a\n<<<<<<< yours\nmine\n=======\ntheirs\n>>>>>>> okgen\n"


def test_windows_line_endings_are_kept() -> None:
    base = b"a\r\nb\r\nc\r\nd\r\n"
    merged, conflicted = merge_bytes(base, b"A\r\nb\r\nc\r\nd\r\n", b"a\r\nb\r\nc\r\nD\r\n")
    assert (merged, conflicted) == (b"A\r\nb\r\nc\r\nD\r\n", False)
    merged, conflicted = merge_bytes(base, b"X\r\nb\r\nc\r\nd\r\n", b"Y\r\nb\r\nc\r\nd\r\n")
    assert conflicted and merged.startswith(b"<<<<<<< yours\r\nX\r\n=======\r\nY\r\n")


@pytest.mark.parametrize(
    ("base", "yours", "theirs", "status", "after"),
    [
        (None, None, b"new\n", NEW, b"new\n"),
        (b"old\n", b"old\n", b"new\n", UPDATED, b"new\n"),
        (b"old\n", b"old\n", b"old\n", UNCHANGED, b"old\n"),
        (b"a\nb\nc\n", b"A\nb\nc\n", b"a\nb\nC\n", MERGED, b"A\nb\nC\n"),
        (b"a\n", b"mine\n", b"theirs\n", CONFLICT, None),
        (b"old\n", b"mine\n", b"old\n", UNCHANGED, b"mine\n"),
        (b"old\n", None, b"new\n", DELETED, None),  # you deleted it: it stays deleted
        (b"old\n", None, b"old\n", UNCHANGED, None),  # ... and okgen has nothing new for it
        (None, b"same\n", b"same\n", UNCHANGED, b"same\n"),  # you wrote what okgen writes
        (None, b"yours\n", b"okgen\n", CONFLICT, None),  # your file at okgen's path
    ],
)
def test_merge_file_decides_each_case(
    base: bytes | None, yours: bytes | None, theirs: bytes, status: str, after: bytes | None
) -> None:
    result = merge_file("f.py", base, yours, theirs)
    assert result.status == status
    assert result.before == yours
    if status == CONFLICT:
        assert yours in result.after and theirs in result.after
    else:
        assert result.after == after


def test_unified_diff_labels_sides_and_deletions() -> None:
    diff = unified_diff("a.py", b"x\ny\n", b"x\nz\n", ("okgen", "yours"))
    assert diff.splitlines()[:2] == ["--- okgen/a.py", "+++ yours/a.py"]
    assert "-y" in diff and "+z" in diff
    assert unified_diff("a.py", b"x\n", None, ("okgen", "yours")).splitlines()[1] == "+++ /dev/null"


def tree(root: Path, files: dict[str, str]) -> None:
    """Files of a pretend project (the journal lives in its ``.okgen/``)."""
    for path, text in {".okgen/manifest.json": "{}", **files}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def test_transaction_applies_writes_and_removals(tmp_path: Path) -> None:
    tree(tmp_path, {"keep.txt": "keep", "a.txt": "old a", "gone.txt": "bye"})
    transaction.apply(tmp_path, {"a.txt": b"new a", "deep/er/b.txt": b"b"}, ["gone.txt"])
    files = {k: v for k, v in snapshot(tmp_path).items() if not k.startswith(".okgen")}
    assert files == {
        "a.txt": b"new a",
        "deep": None,
        "deep/er": None,
        "deep/er/b.txt": b"b",
        "keep.txt": b"keep",
    }
    assert not (tmp_path / transaction.TRANSACTION).exists()


def test_transaction_rolls_back_when_applying_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree(tmp_path, {"a.txt": "old a", "b.txt": "old b", "gone.txt": "bye"})
    before = snapshot(tmp_path)
    apply_entry = transaction._apply_entry
    applied = []

    def fail_third(*args: object) -> None:
        if len(applied) == 2:
            raise KeyboardInterrupt
        apply_entry(*args)
        applied.append(args)

    monkeypatch.setattr(transaction, "_apply_entry", fail_third)
    writes = {"a.txt": b"new a", "new/dir/c.txt": b"c", "b.txt": b"new b"}
    with pytest.raises(KeyboardInterrupt):
        transaction.apply(tmp_path, writes, ["gone.txt"])
    assert snapshot(tmp_path) == before


def test_recover_rolls_back_a_run_killed_while_applying(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree(tmp_path, {"a.txt": "old a", "b.txt": "old b", "gone.txt": "bye"})
    before = snapshot(tmp_path)

    class Killed(BaseException):
        """Stands for SIGKILL: nothing after it runs, not even the rollback."""

    apply_entry, applied = transaction._apply_entry, []

    def killed_after_two(*args: object) -> None:
        if len(applied) == 2:
            raise Killed
        apply_entry(*args)
        applied.append(args)

    monkeypatch.setattr(transaction, "_apply_entry", killed_after_two)
    monkeypatch.setattr(transaction, "recover", lambda project: None)
    with pytest.raises(Killed):
        transaction.apply(tmp_path, {"a.txt": b"new a", "x/c.txt": b"c"}, ["gone.txt", "b.txt"])
    assert snapshot(tmp_path)["a.txt"] == b"new a"  # half applied
    monkeypatch.undo()
    assert transaction.recover(tmp_path) == transaction.Recovery(2)  # a.txt and gone.txt
    assert snapshot(tmp_path) == before
    assert transaction.recover(tmp_path) is None


def test_recover_discards_a_run_killed_while_staging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree(tmp_path, {"a.txt": "old a"})
    before = snapshot(tmp_path)

    def killed(*args: object) -> None:
        raise SystemExit

    monkeypatch.setattr(transaction, "_write_journal", killed)
    with pytest.raises(SystemExit):
        transaction.apply(tmp_path, {"a.txt": b"new a", "b.txt": b"b"})
    staged = snapshot(tmp_path)
    assert {k: v for k, v in staged.items() if not k.startswith(transaction.TRANSACTION)} == before
    assert transaction.recover(tmp_path) == transaction.Recovery(0)
    assert snapshot(tmp_path) == before


def small_project(root: Path, written: dict[str, bytes], disk: dict[str, bytes | None]) -> Manifest:
    """A project okgen wrote as ``written``; ``disk`` then edits (or, with None, deletes) files."""
    manifest = Manifest(
        okgen_version="0.1.0",
        answers={},
        project_name="p",
        package_name="p",
        tasks=["classification"],
        components=[],
    )
    manifest.record(written, dict.fromkeys(written, "template"))
    for path, data in {**written, **provenance_files(manifest, written), **disk}.items():
        if data is not None:  # None: the user deleted it
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(data)
    return manifest


def blobs(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in (root / OBJECTS).rglob("*") if p.is_file()}


WRITTEN = {
    "untouched.py": BASE,
    "edited.py": BASE,
    "clash.py": BASE,
    "deleted.py": BASE,
    "dropped.py": b"old\n",
    "dropped_edited.py": b"old\n",
    "dropped_deleted.py": b"old\n",
    "same.py": b"same\n",
}
EDITS = {
    "edited.py": change(BASE, 2, "mine"),
    "clash.py": change(BASE, 9, "mine"),
    "deleted.py": None,
    "dropped_edited.py": b"old\nmine\n",
    "dropped_deleted.py": None,
}
RENDER = {
    "untouched.py": change(BASE, 9, "okgen"),
    "edited.py": change(BASE, 9, "okgen"),
    "clash.py": change(BASE, 9, "okgen"),
    "deleted.py": change(BASE, 9, "okgen"),
    "new.py": b"new\n",
    "same.py": b"same\n",
}


def test_plan_merge_decides_every_file_and_writes_nothing(tmp_path: Path) -> None:
    old = small_project(tmp_path, WRITTEN, EDITS)
    before = snapshot(tmp_path)
    result = plan_merge(tmp_path, old, RENDER)
    assert snapshot(tmp_path) == before
    statuses = {c.path: c.status for c in result.changes}
    assert statuses == {
        "untouched.py": UPDATED,
        "edited.py": MERGED,
        "clash.py": CONFLICT,
        "deleted.py": DELETED,
        "new.py": NEW,
        "same.py": UNCHANGED,
        "dropped.py": REMOVED,
        "dropped_edited.py": ORPHANED,
        "dropped_deleted.py": REMOVED,
    }
    changes = {c.path: c for c in result.changes}
    assert changes["edited.py"].after == change(change(BASE, 2, "mine"), 9, "okgen")
    assert changes["dropped.py"].before == b"old\n" and changes["dropped.py"].after is None
    assert changes["dropped_edited.py"].after == b"old\nmine\n"
    assert changes["dropped_deleted.py"].before is None
    assert result.conflicts == ["clash.py"]
    assert result.reported == [c for c in result.changes if c.path != "same.py"]
    assert result.summary() == (
        "1 new, 1 updated, 1 merged, 1 CONFLICT, 1 kept deleted, 2 removed, 1 kept, untracked"
    )
    with pytest.raises(MergeConflictError, match=r"^merge conflicts in clash\.py; edit the '<<<"):
        result.raise_for_conflicts()


def test_a_clean_result_raises_nothing_and_says_so(tmp_path: Path) -> None:
    old = small_project(tmp_path, {"a.py": b"a\n"}, {})
    result = plan_merge(tmp_path, old, {"a.py": b"a\n"})
    assert result.summary() == "" and result.reported == [] and result.conflicts == []
    result.raise_for_conflicts()


def test_apply_merge_writes_files_blobs_and_manifest_together(tmp_path: Path) -> None:
    old = small_project(tmp_path, WRITTEN, EDITS)
    result = plan_merge(tmp_path, old, RENDER)
    new = Manifest(**{**old.__dict__, "okgen_version": "9.9.9"})
    new.record(RENDER, dict.fromkeys(RENDER, "template"))
    apply_merge(tmp_path, old, result, RENDER, new)
    for change_ in result.changes:
        path = tmp_path / change_.path
        assert (path.read_bytes() if path.is_file() else None) == change_.after, change_.path
    assert blobs(tmp_path) == {object_path(sha256(data)) for data in RENDER.values()}
    assert read_manifest(tmp_path) == new
    for path in RENDER:  # the base is now okgen's render, conflicted and deleted files too
        assert read_base(tmp_path, new, path) == RENDER[path]
    assert not (tmp_path / transaction.TRANSACTION).exists()


def test_apply_merge_keeps_good_blobs_and_replaces_damaged_ones(tmp_path: Path) -> None:
    old = small_project(tmp_path, {"a.py": b"a\n", "b.py": b"b\n"}, {})
    kept = tmp_path / object_path(sha256(b"a\n"))
    kept_inode = kept.stat().st_ino
    damaged = tmp_path / object_path(sha256(b"c\n"))  # a stray blob whose bytes do not match
    damaged.parent.mkdir(parents=True, exist_ok=True)
    damaged.write_bytes(b"not zlib")
    render = {"a.py": b"a\n", "b.py": b"b\n", "c.py": b"c\n"}
    new = Manifest(**old.__dict__)
    new.record(render, dict.fromkeys(render, "template"))
    apply_merge(tmp_path, old, plan_merge(tmp_path, old, render), render, new)
    assert kept.stat().st_ino == kept_inode  # not rewritten
    assert read_object(tmp_path, sha256(b"c\n")) == b"c\n"


def test_apply_merge_refuses_a_file_changed_since_the_plan(tmp_path: Path) -> None:
    old = small_project(tmp_path, {"a.py": BASE}, {})
    render = {"a.py": change(BASE, 9, "okgen")}
    result = plan_merge(tmp_path, old, render)
    (tmp_path / "a.py").write_bytes(change(BASE, 1, "saved meanwhile"))
    before = snapshot(tmp_path)
    new = Manifest(**old.__dict__)
    new.record(render, dict.fromkeys(render, "template"))
    with pytest.raises(ConcurrentEditError, match=r"^a\.py changed while okgen"):
        apply_merge(tmp_path, old, result, render, new)
    assert snapshot(tmp_path) == before


def test_an_unresolved_conflict_block_stops_the_next_merge(tmp_path: Path) -> None:
    blocked = b"a\n<<<<<<< yours\nb\n=======\nc\n>>>>>>> okgen\n"
    old = small_project(tmp_path, {"a.py": b"a\n", "b.py": b"b\n"}, {"a.py": blocked})
    with pytest.raises(MergeConflictError, match=r"^unresolved conflict blocks in a\.py; resolve"):
        plan_merge(tmp_path, old, {"a.py": b"a\n", "b.py": b"b\n"})
    (tmp_path / "a.py").write_bytes(b"a\n<<<<<<< yours\nb\n")  # one marker alone is text
    assert plan_merge(tmp_path, old, {"a.py": b"a\n", "b.py": b"b\n"}).conflicts == []


def test_user_edits_lists_edited_and_deleted_files_against_the_base(tmp_path: Path) -> None:
    manifest = small_project(tmp_path, WRITTEN, EDITS)
    edits = {e.path: e for e in user_edits(tmp_path, manifest)}
    assert set(edits) == {"edited.py", "clash.py", "deleted.py", "dropped_edited.py",
                          "dropped_deleted.py"}  # fmt: skip
    assert edits["edited.py"] == FileChange("edited.py", EDITED, BASE, EDITS["edited.py"])
    assert edits["deleted.py"] == FileChange("deleted.py", DELETED, BASE, None)


def test_user_edits_needs_the_base_only_of_edited_files(tmp_path: Path) -> None:
    manifest = small_project(tmp_path, {"a.py": b"a\n", "b.py": b"b\n"}, {"b.py": b"mine\n"})
    (tmp_path / object_path(sha256(b"a\n"))).unlink()  # a.py is untouched: its bytes are its base
    assert [e.path for e in user_edits(tmp_path, manifest)] == ["b.py"]
    (tmp_path / object_path(sha256(b"b\n"))).write_bytes(zlib.compress(b"tampered\n"))
    with pytest.raises(BaseDamagedError, match=r"^the merge base of b\.py is missing or damaged"):
        user_edits(tmp_path, manifest)


def test_a_multi_line_block_without_a_final_newline_is_ended_before_the_next_marker() -> None:
    merged, conflicted = merge_bytes(b"a\nb", b"a\nx\ny", b"a\nz\nw")
    assert conflicted
    assert merged == b"a\n<<<<<<< yours\nx\ny\n=======\nz\nw\n>>>>>>> okgen\n"


def test_old_mac_line_ends_count_as_line_ends_in_blocks() -> None:
    merged, conflicted = merge_bytes(b"a\rb\r", b"a\rX\r", b"a\rY\r")
    assert conflicted and merged == b"a\r<<<<<<< yours\nX\r=======\nY\r>>>>>>> okgen\n"


def test_every_conflicted_file_is_named(tmp_path: Path) -> None:
    edits = {"a.py": b"A\n", "b.py": b"B\n"}
    old = small_project(tmp_path, {"a.py": b"a\n", "b.py": b"b\n"}, edits)
    result = plan_merge(tmp_path, old, {"a.py": b"1\n", "b.py": b"2\n"})
    with pytest.raises(MergeConflictError) as error:
        result.raise_for_conflicts()
    assert str(error.value) == (
        "merge conflicts in a.py, b.py; edit the '<<<<<<< yours' ... '>>>>>>> okgen' blocks "
        "to keep what you want"
    )
    blocked = b"<<<<<<< yours\nb\n=======\nc\n>>>>>>> okgen\n"
    (tmp_path / "a.py").write_bytes(blocked)
    (tmp_path / "b.py").write_bytes(blocked)
    with pytest.raises(MergeConflictError, match=r"^unresolved conflict blocks in a\.py, b\.py; "):
        plan_merge(tmp_path, old, {"a.py": b"1\n", "b.py": b"2\n"})


def test_an_end_marker_without_a_start_marker_is_text(tmp_path: Path) -> None:
    rst = b"Title\n=======\n>>>>>>> okgen\n"
    old = small_project(tmp_path, {"a.rst": b"Title\n"}, {"a.rst": rst})
    assert plan_merge(tmp_path, old, {"a.rst": b"Title\n"}).conflicts == []


def test_unified_diff_text_exactly() -> None:
    assert unified_diff("a.py", b"x\ny\n", b"x\nz\n", ("okgen", "yours")) == (
        "--- okgen/a.py\n+++ yours/a.py\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n"
    )
    assert unified_diff("a.py", None, b"x\n", ("okgen", "yours")) == (
        "--- /dev/null\n+++ yours/a.py\n@@ -0,0 +1 @@\n+x\n"
    )
    assert unified_diff("a.py", b"x\ny\n", b"x\nz", ("a", "b")) == (
        "--- a/a.py\n+++ b/a.py\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n\\ No newline at end of file\n"
    )
    assert unified_diff("a.py", b"x\ny\nw\n", b"x\ny\nz", ("a", "b")).endswith(
        " y\n-w\n+z\n\\ No newline at end of file\n"
    )
    assert unified_diff("a.py", b"x\n", b"x\n", ("a", "b")) == ""


def test_unified_diff_shows_bytes_that_are_not_utf8() -> None:
    diff = unified_diff("a.txt", b"caf\xe9\n", b"cafe\n", ("okgen", "yours"))
    assert "-caf\ufffd\n+cafe\n" in diff
