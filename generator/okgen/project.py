"""A generated project on disk: open it safely and render it again with more or newer parts.

Every command that reads or changes a project holds its lock (``.okgen/lock``)
from opening to the last write, so two okgen commands never interleave their
read-modify-write. Opening a project first recovers an interrupted run, moves an
old ``.okgen/base/`` into blobs, and checks the merge base against the manifest.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import __version__, files, transaction
from .answers import Answers, recorded_answers
from .catalogue import Catalogue
from .errors import BaseDamagedError, ProjectLockedError
from .manifest import (
    LOCK,
    MANIFEST,
    OBJECTS,
    OLD_BASE,
    Manifest,
    damaged_base_message,
    encode_object,
    find_project,
    object_path,
    read_manifest,
    read_object,
    sha256,
    some_paths,
)
from .new import render_project
from .plan import chosen_components

#: How long a command waits for another okgen command on the same project to finish.
LOCK_WAIT_S = 60.0


@dataclass(frozen=True)
class Project:
    root: Path
    manifest: Manifest
    notes: tuple[str, ...] = ()  # what opening it had to do, for the user

    @property
    def answers(self) -> Answers:
        return recorded_answers(self.manifest.answers, self.manifest.answers_version, "answers")

    @property
    def task_answers(self) -> dict[str, Answers]:
        version = self.manifest.answers_version
        return {
            task: recorded_answers(raw, version, f"task_answers.{task}")
            for task, raw in self.manifest.task_answers.items()
        }


@contextmanager
def project_lock(root: Path, *, wait: float | None = None) -> Iterator[None]:
    """Hold the project's exclusive lock; wait up to ``wait`` seconds for another holder."""
    wait = LOCK_WAIT_S if wait is None else wait
    path = root / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise ProjectLockedError(f"cannot open the project lock {path}: {error.strerror}") from None
    try:
        deadline, told = time.monotonic() + wait, False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ProjectLockedError(
                        f"another okgen command is still changing {root} after {wait:g} s "
                        f"(it holds {path}); run this one again when it has finished"
                    ) from None
                if not told:
                    print(f"okgen: waiting for another okgen command in {root}", file=sys.stderr)
                    told = True
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


@contextmanager
def locked_project(start: Path) -> Iterator[Project]:
    """The project around ``start``, opened and held locked until the block ends."""
    root = find_project(start)
    with project_lock(root):
        yield _open(root, strict=True)


def open_project(start: Path) -> Project:
    """The project around ``start``, after rolling back any okgen run that was interrupted."""
    with locked_project(start) as project:
        return project


@dataclass(frozen=True)
class Repaired:
    project: Project
    rendered: tuple[str, ...] = ()  # base rebuilt from this okgen's identical render
    adopted: tuple[str, ...] = ()  # base taken from the user's current file


def repair_base(start: Path, *, accept_current: bool = False) -> Repaired:
    """Rebuild every missing or damaged blob of the merge base.

    Untouched files give back their own blob (opening does that); a file okgen
    renders again to the recorded sha256 gets the render's. What is left is an
    edited file whose base is gone: ``accept_current`` takes the file on disk as
    its base (a deleted one takes this okgen's render, or leaves the manifest).
    """
    from .catalogue import load_catalogue

    root = find_project(start)
    with project_lock(root):
        project = _open(root, strict=False)
        manifest = project.manifest
        lost = _missing_blobs(root, manifest)
        if not lost:
            return Repaired(project)
        render, _ = render_all(
            load_catalogue(),
            project,
            components=manifest.components,
            tasks=list(manifest.tasks),
            task_answers=project.task_answers,
        )
        writes: dict[str, bytes] = {}
        rendered, adopted, unrecoverable = [], [], []
        for path in lost:
            digest = manifest.files[path]["sha256"]
            mine = root / path
            if path in render and sha256(render[path]) == digest:
                writes[object_path(digest)] = encode_object(render[path])
                rendered.append(path)
            elif not accept_current:
                unrecoverable.append(path)
            else:
                base = mine.read_bytes() if mine.is_file() else render.get(path)
                adopted.append(path)
                if base is None:
                    del manifest.files[path]
                    continue
                manifest.files[path] = {"sha256": sha256(base), "origin": "yours"}
                writes[object_path(sha256(base))] = encode_object(base)
        if unrecoverable:
            raise BaseDamagedError(
                f"cannot rebuild the merge base of {some_paths(unrecoverable)}: you edited it, and "
                f"okgen {__version__} renders it differently from okgen "
                f"{manifest.okgen_version}, which wrote it; `okgen repair-base --accept-current` "
                "takes your current files as their base"
            )
        if adopted:
            writes[MANIFEST] = manifest.to_json().encode()
        transaction.apply(root, writes)
        return Repaired(project, tuple(rendered), tuple(adopted))


def _open(root: Path, *, strict: bool) -> Project:
    """Recover, read the manifest, migrate and heal the base; ``strict``: refuse a lost base."""
    notes = _recover(root)
    manifest = read_manifest(root)
    notes += _migrate_base(root, manifest)
    notes += _heal_base(root, manifest)
    if strict and (lost := _missing_blobs(root, manifest)):
        raise BaseDamagedError(damaged_base_message(lost))
    return Project(root, manifest, notes)


def _recover(root: Path) -> tuple[str, ...]:
    recovery = transaction.recover(root)
    if recovery is None:
        return ()
    notes = []
    if recovery.restored:
        notes.append(f"rolled back an interrupted okgen run ({recovery.restored} files restored)")
    for path in recovery.kept:
        copy = root / transaction.RECOVERED / f"{path}.orig"
        where = f"; its bytes from before that run are in {copy}" if copy.is_file() else ""
        notes.append(
            f"KEPT {path} AS IT IS: it changed after an interrupted okgen run wrote it, so the "
            f"rollback left it alone{where}"
        )
    return tuple(notes)


def _migrate_base(root: Path, manifest: Manifest) -> tuple[str, ...]:
    """Move the plain copies of okgen < 0.2 (``.okgen/base/<path>``) into blobs."""
    old = root / OLD_BASE
    if not old.is_dir():
        return ()
    writes = {}
    for path, record in manifest.files.items():
        copy = old / path
        if copy.is_file() and read_object(root, record["sha256"]) is None:
            data = copy.read_bytes()
            if sha256(data) == record["sha256"]:
                writes[object_path(record["sha256"])] = encode_object(data)
    if writes:
        transaction.apply(root, writes)
    files.rmtree(old)
    return (f"moved the merge base from {OLD_BASE}/ into blobs in {OBJECTS}/",)


def _heal_base(root: Path, manifest: Manifest) -> tuple[str, ...]:
    """Rewrite the missing or damaged blobs of files that are still as okgen wrote them."""
    writes = {}
    for path in _missing_blobs(root, manifest):
        mine = root / path
        if mine.is_file():
            data = mine.read_bytes()
            if sha256(data) == manifest.files[path]["sha256"]:
                writes[object_path(sha256(data))] = encode_object(data)
    if not writes:
        return ()
    transaction.apply(root, writes)
    return (
        f"rebuilt {len(writes)} missing or damaged blobs of the merge base from untouched files",
    )


def _missing_blobs(root: Path, manifest: Manifest) -> list[str]:
    """Recorded files whose blob is missing or does not hash to its name."""
    good: dict[str, bool] = {}
    missing = []
    for path, record in manifest.files.items():
        digest = record["sha256"]
        if digest not in good:
            good[digest] = read_object(root, digest) is not None
        if not good[digest]:
            missing.append(path)
    return missing


def render_all(
    catalogue: Catalogue,
    project: Project,
    *,
    components: Iterable[str],
    tasks: list[str],
    task_answers: dict[str, Answers],
) -> tuple[dict[str, bytes], Manifest]:
    """Every file of ``project`` with ``components`` and ``tasks``, rendered by this okgen.

    ``configs/train.yaml`` is rendered from the project's answers; each task in
    ``task_answers`` gets its own ``configs/<task>.yaml`` from the same template.
    Every render sees the same components and tasks, so the glue is identical.
    """
    answers = project.answers
    keys = set(components)
    for each in (answers, *task_answers.values()):
        keys |= {c.key for c in chosen_components(catalogue, each)}
    extra = tuple(sorted(keys))
    name, package = project.manifest.project_name, project.manifest.package_name
    files, manifest = render_project(
        catalogue, answers, name=name, package=package, extra=extra, tasks=tasks
    )
    origins = {path: record["origin"] for path, record in manifest.files.items()}
    for task, task_answer in task_answers.items():
        task_files, _ = render_project(
            catalogue, task_answer, name=name, package=package, extra=extra, tasks=tasks
        )
        files[f"configs/{task}.yaml"] = task_files["configs/train.yaml"]
        origins[f"configs/{task}.yaml"] = "template"
    manifest.record(files, origins)
    manifest.task_answers = {task: a.model_dump() for task, a in task_answers.items()}
    return files, manifest
