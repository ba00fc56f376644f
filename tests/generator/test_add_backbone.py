"""``okgen add-backbone`` takes any timm model name, and says when okgen does not test it."""

from __future__ import annotations

from pathlib import Path

from .projects import okgen, snapshot


def test_an_untested_timm_model_is_selected_with_a_note(project: Path) -> None:
    before = snapshot(project)
    code, out, err = okgen("add-backbone", "mobilenetv3_small_100")
    assert code == 0, out + err
    assert "model:\n    backbone:\n      name: mobilenetv3_small_100" in out
    assert "note: backbone 'mobilenetv3_small_100' is a timm model outside the families" in err
    assert "python -m demo check-model" in err
    assert snapshot(project) == before  # the timm backbone is in every project already
    code, _, err = okgen("add-backbone", "mobilenetv3_smal_100")
    assert code != 0 and "did you mean 'mobilenetv3_small_100'" in err
