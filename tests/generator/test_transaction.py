"""The journal under real crashes: okgen killed at every filesystem operation, then recovered.

The kills go through okgen's own journal writer and rollback (only the handful
of primitives in ``okgen.files`` are wrapped), so a journal written in place or
a rollback that copies straight onto its target leaves torn bytes that these
tests see.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from okgen import transaction
from okgen.errors import ConcurrentEditError, OkgenError

from .projects import Killed, kill_at, snapshot

FILES = {"a.txt": "old a", "b/b.txt": "old b", "gone.txt": "bye", "same.txt": "same"}
WRITES = {"a.txt": b"new a!", "b/b.txt": b"new b", "new/dir/c.txt": b"c", "same.txt": b"same"}
REMOVALS = ["gone.txt"]


def tree(root: Path, files: dict[str, str]) -> Path:
    """Files of a pretend project (the journal lives in its ``.okgen/``)."""
    for path, text in {".okgen/manifest.json": "{}", **files}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def run(root: Path) -> None:
    transaction.apply(root, WRITES, REMOVALS)


@pytest.fixture
def states(tmp_path: Path) -> tuple[dict, dict, int]:
    """The project before and after a clean run, and how many operations the run makes."""
    before = snapshot(tree(tmp_path / "before", FILES))
    done = tree(tmp_path / "after", FILES)
    with kill_at(None) as count:
        run(done)
    return before, snapshot(done), count[0]


def crashed(tmp_path: Path, call: int, name: str = "crashed") -> Path:
    """A project whose run was killed at its ``call``-th filesystem operation."""
    root = tree(tmp_path / name, FILES)
    with kill_at(call), pytest.raises(Killed):
        run(root)
    return root


def test_a_clean_run_journals_then_cleans_up(states: tuple[dict, dict, int]) -> None:
    before, after, total = states
    assert after == {
        **{k: v for k, v in before.items() if k != "gone.txt"},
        **{path: data for path, data in WRITES.items()},
        "new": None,
        "new/dir": None,
    }
    assert total > 2 * len(WRITES)  # staged, journalled, applied: each is counted


def test_killed_at_any_operation_recovers_to_before_or_after(
    tmp_path: Path, states: tuple[dict, dict, int]
) -> None:
    before, after, total = states
    seen = set()
    for call in range(1, total + 1):
        root = crashed(tmp_path, call)
        recovery = transaction.recover(root)
        assert recovery is None or recovery.kept == (), call
        state = snapshot(root)
        assert state in (before, after), call
        seen.add("before" if state == before else "after")
    assert seen == {"before", "after"}


def test_recovery_killed_at_any_operation_can_be_repeated(
    tmp_path: Path, states: tuple[dict, dict, int]
) -> None:
    """A crash, then a crash of the recovery at each of its operations, then a recovery."""
    before, after, total = states
    for call in range(1, total + 1):
        root = crashed(tmp_path, call)
        counting = Path(shutil.copytree(root, tmp_path / "counting"))
        with kill_at(None) as count:
            transaction.recover(counting)
        shutil.rmtree(counting)
        for again in range(1, count[0] + 1):
            twice = Path(shutil.copytree(root, tmp_path / "twice"))
            with kill_at(again), pytest.raises(Killed):
                transaction.recover(twice)
            recovery = transaction.recover(twice)
            assert recovery is None or recovery.kept == (), (call, again)
            assert snapshot(twice) in (before, after), (call, again)
            shutil.rmtree(twice)
        shutil.rmtree(root)


def killed_while_applying(tmp_path: Path, states: tuple[dict, dict, int]) -> Path:
    """A run killed after it applied ``a.txt`` but before it applied the rest."""
    _, _, total = states
    for call in range(1, total + 1):
        root = crashed(tmp_path, call, name=f"crashed-{call}")
        if (root / "a.txt").read_bytes() == WRITES["a.txt"] and (root / "gone.txt").exists():
            return root
        shutil.rmtree(root)
    raise AssertionError("no kill point between applying a.txt and gone.txt")


def test_recovery_keeps_a_file_the_user_changed_after_the_crash(
    tmp_path: Path, states: tuple[dict, dict, int]
) -> None:
    before = states[0]
    root = killed_while_applying(tmp_path, states)
    (root / "a.txt").write_bytes(b"new a! and my edit after the crash")
    recovery = transaction.recover(root)
    assert recovery is not None and recovery.kept == ("a.txt",)
    assert (root / "a.txt").read_bytes() == b"new a! and my edit after the crash"
    copy = root / transaction.RECOVERED / "a.txt.orig"
    assert copy.read_bytes() == b"old a"  # the journal's bytes from before the run
    state = snapshot(root)
    assert {k: v for k, v in state.items() if k not in ("a.txt",) and "recovered" not in k} == {
        k: v for k, v in before.items() if k != "a.txt"
    }


def test_recovery_keeps_files_the_user_made_or_changed_that_the_run_had_not_reached(
    tmp_path: Path, states: tuple[dict, dict, int]
) -> None:
    root = killed_while_applying(tmp_path, states)
    (root / "b/b.txt").write_bytes(b"old b, edited by me")  # not applied yet when killed
    (root / "new/dir").mkdir(parents=True, exist_ok=True)
    (root / "new/dir/c.txt").write_bytes(b"my own c")  # the run would have created it
    recovery = transaction.recover(root)
    assert recovery is not None and set(recovery.kept) == {"b/b.txt", "new/dir/c.txt"}
    assert (root / "b/b.txt").read_bytes() == b"old b, edited by me"
    assert (root / "new/dir/c.txt").read_bytes() == b"my own c"
    assert (root / "a.txt").read_bytes() == b"old a" and (root / "gone.txt").is_file()
    assert not (root / transaction.RECOVERED / "new/dir/c.txt.orig").exists()  # had no before


def test_recovery_keeps_a_removed_file_the_user_wrote_again(
    tmp_path: Path, states: tuple[dict, dict, int]
) -> None:
    _, _, total = states
    for call in range(1, total + 1):
        root = crashed(tmp_path, call, name=f"crashed-{call}")
        journal = root / transaction.TRANSACTION / transaction.JOURNAL
        if journal.is_file() and not (root / "gone.txt").exists():
            break
        shutil.rmtree(root)
    else:
        raise AssertionError("no kill point after removing gone.txt")
    (root / "gone.txt").write_bytes(b"I want this back, my way")
    recovery = transaction.recover(root)
    assert recovery is not None and "gone.txt" in recovery.kept
    assert (root / "gone.txt").read_bytes() == b"I want this back, my way"
    assert (root / transaction.RECOVERED / "gone.txt.orig").read_bytes() == b"bye"


def test_a_file_changed_since_planning_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    root = tree(tmp_path, FILES)
    (root / "a.txt").write_text("changed by the user since okgen read it")
    before = snapshot(root)
    with pytest.raises(ConcurrentEditError, match=r"^a\.txt changed while okgen was working"):
        transaction.apply(root, WRITES, REMOVALS, expected={"a.txt": b"old a"})
    transaction.recover(root)
    assert snapshot(root) == before


def test_a_file_changed_while_applying_is_never_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree(tmp_path, FILES)
    before = snapshot(root)
    apply_entry = transaction._apply_entry

    def user_saves_b_meanwhile(project: Path, folder: Path, entry: dict) -> None:
        if entry["path"] == "b/b.txt":
            (project / "b/b.txt").write_text("saved by my editor just now")
        apply_entry(project, folder, entry)

    monkeypatch.setattr(transaction, "_apply_entry", user_saves_b_meanwhile)
    message = (
        "b/b.txt changed while okgen was writing the project; "
        "okgen's changes were rolled back, run okgen again"
    )
    with pytest.raises(ConcurrentEditError, match=f"^{re.escape(message)}$"):
        run(root)
    assert (root / "b/b.txt").read_text() == "saved by my editor just now"
    state = snapshot(root)
    assert {k: v for k, v in state.items() if k != "b/b.txt" and "recovered" not in k} == {
        k: v for k, v in before.items() if k != "b/b.txt"
    }


def test_permissions_are_kept_by_applying_and_by_rolling_back(tmp_path: Path) -> None:
    root = tree(tmp_path, FILES)
    os.chmod(root / "a.txt", 0o751)
    transaction.apply(root, {"a.txt": b"new a"})
    assert (root / "a.txt").stat().st_mode & 0o777 == 0o751
    with kill_at(None) as count:
        transaction.apply(root, {"a.txt": b"newer a"})
    for call in range(1, count[0] + 1):
        (root / "a.txt").write_bytes(b"new a")
        os.chmod(root / "a.txt", 0o751)
        with kill_at(call), pytest.raises(Killed):
            transaction.apply(root, {"a.txt": b"newer a"})
        transaction.recover(root)
        assert (root / "a.txt").stat().st_mode & 0o777 == 0o751, call


def test_a_damaged_journal_is_a_one_line_error(tmp_path: Path) -> None:
    root = tree(tmp_path, {**FILES, f"{transaction.TRANSACTION}/journal.json": '{"entr'})
    with pytest.raises(OkgenError, match="cannot read the journal of an interrupted okgen run"):
        transaction.recover(root)


def test_rollback_removes_the_folders_the_run_made_and_only_those(tmp_path: Path) -> None:
    root = tree(tmp_path / "root", FILES)
    (root / "empty").mkdir()  # the user's empty folder, where the run puts a file
    before = snapshot(root)
    writes = {"empty/x.txt": b"x", "deep/er/est/y.txt": b"y", "b/z.txt": b"z"}
    with kill_at(None) as count:
        transaction.apply(tree(tmp_path / "count", FILES), writes)
    with kill_at(count[0] - 2), pytest.raises(Killed):  # after applying, before the cleanup
        transaction.apply(root, writes)
    assert (root / "deep/er/est/y.txt").is_file()
    transaction.recover(root)
    assert snapshot(root) == before
