"""The catalogue's ``depends`` and ``requires`` cover every import of every component file.

A vendored file that imports a library file the catalogue does not list is missing
from the project; one that imports a package it does not require breaks ``pip
install`` of the project. Each file's imports are read with ``ast``, never executed.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import PurePosixPath

import pytest

from okgen.catalogue import Component, load_catalogue
from okgen.plan import BASE_REQUIREMENTS

CATALOGUE = load_catalogue()
LIBRARY = CATALOGUE.root
ENTRIES = {c.key: c for kind in CATALOGUE.components.values() for c in kind.values()}
#: Import names whose pip package is called differently.
PIP_NAMES = {
    "cv2": "opencv-python-headless",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "sklearn": "scikit-learn",
    "faiss": "faiss-cpu",
}


def _pip(requirement: str) -> str:
    """``"timm>=1.0"`` -> ``timm``, normalised as pip compares names."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement).group()  # type: ignore[union-attr]
    return re.sub(r"[-_.]+", "-", name).lower()


#: Every generated project has these (torch among them), so no component lists them.
IMPLICIT = {_pip(r) for r in BASE_REQUIREMENTS}


def imports(path: str) -> tuple[set[str], set[str]]:
    """``(library files, pip packages)`` one library file imports."""
    tree = ast.parse((LIBRARY / path).read_text())
    files, packages = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            folder = PurePosixPath(path).parent
            for _ in range(node.level - 1):
                folder = folder.parent
            base = folder.joinpath(*node.module.split(".")) if node.module else folder
            targets = [base] if node.module else [base / a.name for a in node.names]
            files |= {f"{t.as_posix()}.py" for t in targets}
        elif isinstance(node, ast.ImportFrom):
            packages.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            packages |= {alias.name.split(".")[0] for alias in node.names}
    third_party = {_pip(PIP_NAMES.get(p, p)) for p in packages if p not in sys.stdlib_module_names}
    return files, third_party - IMPLICIT


def closure(component: Component) -> set[str]:
    """The library files vendoring ``component`` copies (as okgen's plan closes them)."""
    by_file = CATALOGUE.by_file()
    seen, pending = set(), [component.file]
    while pending:
        path = pending.pop()
        if path not in seen:
            seen.add(path)
            pending += by_file[path].depends if path in by_file else []
    return seen


@pytest.mark.parametrize("key", sorted(ENTRIES))
def test_depends_and_requires_cover_the_imports(key: str) -> None:
    component = ENTRIES[key]
    by_file = CATALOGUE.by_file()
    files = closure(component)
    helpers = {f for f in files if f not in by_file}  # their imports are the entry's to list
    required = {_pip(r) for path in files if path in by_file for r in by_file[path].requires}
    for path in {component.file, *helpers}:
        local, packages = imports(path)
        missing = sorted(local - (set(component.depends) if path == component.file else files))
        assert not missing, f"{key}: {path} imports {missing}, not in its depends"
        for target in local:
            assert (LIBRARY / target).is_file(), f"{path} imports {target}, which does not exist"
        unlisted = sorted(packages - required)
        assert not unlisted, f"{key}: {path} imports {unlisted}, not in its requires"


def test_every_library_file_is_vendored_by_some_entry() -> None:
    vendored = set().union(*(closure(c) for c in ENTRIES.values()))
    files = {
        p.relative_to(LIBRARY).as_posix()
        for p in LIBRARY.rglob("*.py")
        if p.name != "__init__.py" and "tests" not in p.parts
    }
    assert files - vendored == set()


def test_the_check_reads_imports_as_written() -> None:
    """The parser itself: relative imports become files; stdlib and base packages drop out."""
    assert imports("callbacks/onnx_export.py") == ({"export/onnx.py"}, set())  # lightning: base
    assert imports("necks/fpn.py") == (set(), {"timm"})
    local, packages = imports("datasets/mask_csv.py")
    assert local == {"datasets/_io.py", "datasets/_shapes.py"} and packages == {"albumentations"}
