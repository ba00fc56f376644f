"""okgen's lean call of copier writes exactly what plain copier writes."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from okgen._copier import render
from okgen._resources import TEMPLATES
from okgen.answers import Choices, resolve_answers
from okgen.catalogue import load_catalogue
from okgen.plan import chosen_components, make_plan
from okgen.render import python_string, template_data

CATALOGUE = load_catalogue()
PLAIN_COPIER = """
import json, sys
import copier
data = json.loads(open(sys.argv[3]).read())
copier.run_copy(sys.argv[1], sys.argv[2], data=data, defaults=True, unsafe=False, quiet=True,
                overwrite=True, vcs_ref=None)
assert "questionary" in sys.modules  # the interactive front end was really imported
"""


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root``: its bytes and mode."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mode)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_lean_render_equals_plain_copier(tmp_path: Path) -> None:
    choices = Choices(task="segmentation", callbacks=["ema"], description="Ätna {{ 7 * 7 }}")
    answers = resolve_answers(CATALOGUE, choices, ask=None)
    plan = make_plan(CATALOGUE, chosen_components(CATALOGUE, answers))
    data = template_data(CATALOGUE, answers, plan, project_name="p", package="p", tasks=["x"])
    (tmp_path / "data.json").write_text(json.dumps(data))
    render(TEMPLATES, tmp_path / "lean", data)
    plain = [str(TEMPLATES), str(tmp_path / "plain"), str(tmp_path / "data.json")]
    subprocess.run([sys.executable, "-c", PLAIN_COPIER, *plain], check=True)
    lean = tree(tmp_path / "lean")
    assert "configs/train.yaml" in lean and "src/p/cli.py" in lean
    assert lean == tree(tmp_path / "plain")


@pytest.mark.parametrize(
    "text",
    ["short", "word " * 80, "x" * 250, 'Ätna 😀 "quoted" \\ and {{ 7 * 7 }} ' * 8, ""],
)
def test_python_string_is_the_text_in_short_lines(text: str) -> None:
    expression = python_string(text)
    assert ast.literal_eval(expression) == text  # the concatenation is exactly the text
    assert max(len(line) for line in expression.splitlines() or [""]) <= 80
