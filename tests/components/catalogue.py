"""Catalogue access for component tests: parametrize over what the library ships."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml

LIBRARY = Path(__file__).resolve().parents[2] / "component_library"
CATALOGUE: dict[str, Any] = yaml.safe_load((LIBRARY / "catalogue.yaml").read_text())


def entries(kind: str) -> dict[str, dict[str, Any]]:
    """Name -> catalogue entry for one kind, e.g. ``entries("poolings")``."""
    return CATALOGUE[kind]


def load(kind: str, name: str) -> Any:
    """Import the public symbol of one catalogue entry."""
    entry = CATALOGUE[kind][name]
    module = "component_library." + entry["file"].removesuffix(".py").replace("/", ".")
    return getattr(importlib.import_module(module), entry["symbol"])
