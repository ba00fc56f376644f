"""The provenance a generated project carries in ``.okgen/``.

``manifest.json`` records the okgen version, every answer, the vendored
components and each file okgen wrote with its sha256. ``objects/`` keeps the
exact bytes okgen wrote, as zlib-compressed blobs named by that sha256
(``objects/ab/ab12...``), so later ``add``/``update`` runs can merge 3-way
against the user's edits without git or the old okgen. The blobs are neither
source files nor readable text, so grep, linters and an IDE's refactorings
leave them alone; their names make any damage detectable.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import ConfigDict, StringConstraints, TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from .errors import BaseDamagedError, NotAProjectError
from .questions import UNVERSIONED

OKGEN_DIR = ".okgen"
MANIFEST = f"{OKGEN_DIR}/manifest.json"
OBJECTS = f"{OKGEN_DIR}/objects"
LOCK = f"{OKGEN_DIR}/lock"
#: Where okgen before 0.2 kept plain copies of the base; opening a project migrates it.
OLD_BASE = f"{OKGEN_DIR}/base"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileRecord(TypedDict):
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    origin: str


@dataclass
class Manifest:
    __pydantic_config__ = ConfigDict(strict=True, extra="forbid")

    okgen_version: str
    answers: dict[str, Any]
    project_name: str
    package_name: str
    tasks: list[str]
    components: list[str]  # "kind/name" keys
    files: dict[str, FileRecord] = field(default_factory=dict)
    # Answers of each task added after creation; it has its own configs/<task>.yaml.
    task_answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The schema of ``answers`` (okgen/questions.py); okgen 0.1.0 recorded none.
    answers_version: int = UNVERSIONED
    # The formatter that shaped the glue, e.g. "ruff 0.17.6" (same answers, same bytes).
    formatter: str = ""

    def record(self, files: dict[str, bytes], origins: dict[str, str]) -> None:
        self.files = {
            path: {"sha256": sha256(data), "origin": origins[path]}
            for path, data in sorted(files.items())
        }

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"


@cache
def _schema() -> TypeAdapter[Manifest]:
    """The manifest's validator, built on first use (it takes ~0.1 s; ``new`` never needs it)."""
    return TypeAdapter(Manifest)


def object_path(digest: str) -> str:
    """Where the blob of the bytes with sha256 ``digest`` lives, relative to the project."""
    return f"{OBJECTS}/{digest[:2]}/{digest}"


def encode_object(data: bytes) -> bytes:
    return zlib.compress(data)


def read_object(project: Path, digest: str) -> bytes | None:
    """The bytes stored under ``digest``; None if the blob is missing or does not match it."""
    try:
        data = zlib.decompress((project / object_path(digest)).read_bytes())
    except (OSError, zlib.error):
        return None
    return data if sha256(data) == digest else None


def provenance_files(manifest: Manifest, files: dict[str, bytes]) -> dict[str, bytes]:
    """The ``.okgen/`` files to write next to ``files``: manifest, blobs and the lock file."""
    out = {object_path(sha256(data)): encode_object(data) for data in files.values()}
    out[MANIFEST] = manifest.to_json().encode()
    out[LOCK] = b""
    return out


def read_manifest(project: Path) -> Manifest:
    """The manifest of ``project``; any damage is a one-line error naming the file."""
    path = project / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise NotAProjectError(f"cannot read {path}: {error}") from None
    if not text.strip():
        raise NotAProjectError(f"{path} is empty; restore it from version control")
    try:
        manifest = _schema().validate_json(text)
    except ValidationError as error:
        raise NotAProjectError(f"{path} is not a valid okgen manifest: {_why(error)}") from None
    for name in manifest.files:
        if not _inside_project(name):
            raise NotAProjectError(f"{path} lists {name!r}, which is not a path inside a project")
    return manifest


def _why(error: ValidationError) -> str:
    first, *rest = error.errors()
    where = ".".join(str(part) for part in first["loc"]) or "the top level"
    more = f" (and {len(rest)} more problems)" if rest else ""
    return f"{where}: {first['msg']}{more}"


def _inside_project(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts and "\\" not in name


def find_project(start: Path) -> Path:
    """The generated project containing ``start`` (walks up to the manifest)."""
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / MANIFEST).is_file():
            return folder
    raise NotAProjectError(f"{start} is not inside an okgen project (no {MANIFEST} found)")


def read_base(project: Path, manifest: Manifest, path: str) -> bytes | None:
    """The bytes okgen last wrote at ``path``, if it wrote any.

    A file whose bytes still have the recorded sha256 is untouched, so it is its
    own base; any other file's base comes from its blob.
    """
    record = manifest.files.get(path)
    if record is None:
        return None
    yours = project / path
    if yours.is_file():
        data = yours.read_bytes()
        if sha256(data) == record["sha256"]:
            return data
    base = read_object(project, record["sha256"])
    if base is None:
        raise BaseDamagedError(damaged_base_message([path]))
    return base


def damaged_base_message(paths: list[str]) -> str:
    return (
        f"the merge base of {some_paths(paths)} is missing or damaged in {OBJECTS}; "
        "run `okgen repair-base` to rebuild it"
    )


def some_paths(paths: list[str]) -> str:
    """``a.py`` or ``a.py and 3 more files``, for one-line messages."""
    return paths[0] + (f" and {len(paths) - 1} more files" if len(paths) > 1 else "")
