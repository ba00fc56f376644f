"""The merge engine and the transaction journal, on small inline files."""

from __future__ import annotations

from pathlib import Path

import pytest

from okgen import transaction
from okgen.merge import (
    CONFLICT,
    DELETED,
    MERGED,
    NEW,
    UNCHANGED,
    UPDATED,
    merge_bytes,
    merge_file,
    unified_diff,
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
