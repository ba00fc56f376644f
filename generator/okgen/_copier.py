"""copier, the renderer, without the parts a non-interactive render never uses.

okgen calls ``copier.run_copy`` with every answer given, into a fresh temporary
folder. On that path two things copier does cost more than the render itself
and change nothing in its output:

* It imports its interactive front end (questionary, prompt_toolkit, pygments):
  about a third of ``okgen new``'s wall time. Here the few names copier takes
  from them are stand-ins that import the real module if they are ever called.
* It runs git three times to see whether the template is a git repository or
  bundle, then once per rendered file to sync the executable bit into the
  destination's git index. okgen renders the template as a plain folder into a
  folder outside any repository, so git is hidden from copier while it renders.

tests/generator/test_render.py checks that the output is byte for byte what
plain copier writes.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The names copier imports from its interactive front end, by module.
_INTERACTIVE = {
    "questionary": ("confirm", "unsafe_prompt"),
    "questionary.prompts": (),
    "questionary.prompts.common": ("Choice",),
    "prompt_toolkit": (),
    "prompt_toolkit.lexers": ("PygmentsLexer",),
    "pygments": (),
    "pygments.lexers": (),
    "pygments.lexers.data": ("JsonLexer", "YamlLexer"),
}


def _on_call(module: str, name: str) -> Callable[..., Any]:
    """Stands in for ``module.name``: imports the real one when called."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return call


def _import_copier() -> types.ModuleType:
    """``import copier`` with stand-ins for its interactive imports (unless already loaded)."""
    if "copier._main" in sys.modules:
        return sys.modules["copier"]
    stubs: dict[str, types.ModuleType] = {}
    for module, names in _INTERACTIVE.items():
        if module not in sys.modules:
            stubs[module] = sys.modules[module] = types.ModuleType(module)
            for name in names:
                setattr(stubs[module], name, _on_call(module, name))
    try:
        import copier
    finally:  # the real modules stay importable by anyone else
        for module, stub in stubs.items():
            if sys.modules.get(module) is stub:
                del sys.modules[module]
    return copier


def render(template: Path, destination: Path, data: dict[str, Any]) -> None:
    """Render the copier ``template`` into the empty folder ``destination`` with ``data``."""
    copier = _import_copier()
    from plumbum import local  # a dependency of copier, already imported by it

    with local.env(PATH=""):  # no git for copier: see the module docstring
        copier.run_copy(
            str(template),
            str(destination),
            data=data,
            defaults=True,
            unsafe=False,
            quiet=True,
            overwrite=True,
            vcs_ref=None,
        )
