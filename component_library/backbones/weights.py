"""Saving a backbone's weights and loading them into another project's backbone, checked.

The file is the backbone module's plain ``state_dict`` (``torch.save``), so it loads
with ``torch.load(weights_only=True)`` anywhere. Loading refuses a file whose keys or
tensor shapes do not fit the backbone, instead of silently keeping random weights.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

SHOWN = 3
"""How many offending keys an error message names."""


class BackboneWeightsError(ValueError):
    """A weights file does not fit the backbone it is loaded into."""


def save_backbone(backbone: nn.Module, path: str | Path) -> Path:
    """Write ``backbone.state_dict()`` on CPU to ``path`` (folders created); return ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({key: value.detach().cpu() for key, value in backbone.state_dict().items()}, path)
    return path


def load_backbone_weights(
    backbone: nn.Module, path: str | Path, strict: bool = True
) -> tuple[list[str], list[str]]:
    """Load the weights ``save_backbone`` wrote into ``backbone``.

    A tensor whose shape differs from the backbone's (another architecture or
    width) is always an error. With ``strict``, so are keys the file lacks
    (missing) or has in excess (unexpected); otherwise the matching tensors are
    loaded and the rest keep their values.

    Returns:
        The missing and the unexpected keys (both empty when ``strict``).

    Raises:
        BackboneWeightsError: one line naming the file and a few offending keys.
    """
    state = _read(Path(path))
    own = backbone.state_dict()
    mismatched = [
        f"{key} {tuple(value.shape)} in file vs {tuple(own[key].shape)} in model"
        for key, value in state.items()
        if key in own and value.shape != own[key].shape
    ]
    if mismatched:
        raise BackboneWeightsError(
            f"{path}: {len(mismatched)} tensor shape(s) do not fit this backbone (another "
            f"architecture?): {_few(mismatched)}"
        )
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    if strict and (missing or unexpected):
        problems = [
            f"{len(keys)} {kind} key(s): {_few(keys)}"
            for kind, keys in (("missing", missing), ("unexpected", unexpected))
            if keys
        ]
        raise BackboneWeightsError(f"{path}: does not fit this backbone, {'; '.join(problems)}")
    backbone.load_state_dict(state, strict=False)
    return missing, unexpected


def _read(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise BackboneWeightsError(f"{path}: backbone weights file does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a file it cannot unpickle
        reason = " ".join(str(error).split())[:200]
        raise BackboneWeightsError(
            f"{path}: not a weights file torch can load ({reason})"
        ) from error
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise BackboneWeightsError(
            f"{path}: expected a state dict of tensors (as save_backbone writes), "
            f"got {type(state).__name__}{_lightning_hint(state)}"
        )
    return state


def _lightning_hint(state: object) -> str:
    if isinstance(state, dict) and "state_dict" in state:
        return " holding a 'state_dict': a training checkpoint; export the backbone from it first"
    return ""


def _few(keys: list[str]) -> str:
    more = f" (+{len(keys) - SHOWN} more)" if len(keys) > SHOWN else ""
    return ", ".join(keys[:SHOWN]) + more
