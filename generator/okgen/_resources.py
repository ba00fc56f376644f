"""Where the template and the component library live.

In a wheel they are shipped inside the package (see pyproject's force-include);
in a source checkout they are top-level folders of the repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _locate(name: str) -> Path:
    installed = _PACKAGE / name
    return installed if installed.is_dir() else _PACKAGE.parents[1] / name


TEMPLATES = _locate("templates")
LIBRARY = _locate("component_library")
#: Every model name of the timm release okgen targets, one a line (scripts/timm_models.py).
TIMM_MODELS = _PACKAGE / "timm_models.txt"
