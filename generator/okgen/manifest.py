"""The provenance a generated project carries in ``.okgen/``.

``manifest.json`` records the okgen version, every answer, the vendored
components and each file okgen wrote with its sha256. ``base/`` keeps the exact
bytes okgen wrote, so later ``add``/``update`` runs can merge 3-way against the
user's edits without needing git or the old okgen.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import NotAProjectError
from .questions import UNVERSIONED

OKGEN_DIR = ".okgen"
MANIFEST = f"{OKGEN_DIR}/manifest.json"
BASE = f"{OKGEN_DIR}/base"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Manifest:
    okgen_version: str
    answers: dict[str, Any]
    project_name: str
    package_name: str
    tasks: list[str]
    components: list[str]  # "kind/name" keys
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # path -> sha256, origin
    # Answers of each task added after creation; it has its own configs/<task>.yaml.
    task_answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The schema of ``answers`` (okgen/questions.py); okgen 0.1.0 recorded none.
    answers_version: int = UNVERSIONED

    def record(self, files: dict[str, bytes], origins: dict[str, str]) -> None:
        self.files = {
            path: {"sha256": sha256(data), "origin": origins[path]}
            for path, data in sorted(files.items())
        }

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"


def provenance_files(manifest: Manifest, files: dict[str, bytes]) -> dict[str, bytes]:
    """The ``.okgen/`` files to write next to ``files`` (the manifest and the base copies)."""
    out = {f"{BASE}/{path}": data for path, data in files.items()}
    out[MANIFEST] = manifest.to_json().encode()
    return out


def read_manifest(project: Path) -> Manifest:
    path = project / MANIFEST
    try:
        return Manifest(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as error:
        raise NotAProjectError(f"cannot read {path}: {error}") from None


def find_project(start: Path) -> Path:
    """The generated project containing ``start`` (walks up to the manifest)."""
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / MANIFEST).is_file():
            return folder
    raise NotAProjectError(f"{start} is not inside an okgen project (no {MANIFEST} found)")


def read_base(project: Path, path: str) -> bytes | None:
    """The bytes okgen originally wrote at ``path``, if it wrote any."""
    base = project / BASE / path
    return base.read_bytes() if base.is_file() else None
