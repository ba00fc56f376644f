"""Albumentations pipelines from YAML lists, through ``A.from_dict``.

A pipeline is a list of steps, each a mapping with the transform's class name
and its arguments, exactly as ``A.to_dict`` writes them::

    - {__class_fullname__: HorizontalFlip, p: 0.5}
    - __class_fullname__: OneOf
      transforms:
        - {__class_fullname__: GaussianBlur, p: 1.0}
        - {__class_fullname__: GaussNoise, p: 1.0}
    - {__class_fullname__: Normalize}
    - {__class_fullname__: ToTensorV2}

``name:`` is accepted as a shorter alias of ``__class_fullname__``.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import albumentations as A
import albumentations.pytorch  # registers ToTensorV2 with A.from_dict
from albumentations.core.serialization import SERIALIZABLE_REGISTRY, shorten_class_name
from pydantic import ValidationError

CLASS_KEY = "__class_fullname__"
NAME_KEY = "name"

BBOX_FORMATS = ("pascal_voc", "coco", "yolo", "albumentations")
"""Box formats of ``A.BboxParams``: xyxy pixels, xywh pixels, normalised cxcywh, normalised xyxy."""

TRANSFORMS = {
    name: cls
    for name, cls in SERIALIZABLE_REGISTRY.items()
    if issubclass(cls, (A.BasicTransform, A.BaseCompose)) and not name.startswith("Base")
}
"""Transform name -> class, for every transform ``A.from_dict`` can build."""


class TransformConfigError(ValueError):
    """A pipeline step names an unknown transform or passes it a bad argument."""


def build_transform(
    steps: Sequence[Mapping[str, Any]], bbox_params: Mapping[str, Any] | None = None
) -> A.Compose:
    """Build an ``A.Compose`` from a list of step mappings (see the module docstring).

    A step without ``p`` uses the transform's own default probability, rather than
    the 0.5 that ``A.from_dict`` assumes for old serialized files (which would apply
    e.g. ``Normalize`` to only half of the images).

    ``bbox_params``, for detection, holds the arguments of ``A.BboxParams``, e.g.
    ``{format: pascal_voc, label_fields: [labels], min_visibility: 0.1}``; the
    pipeline then also takes and returns ``bboxes`` and the label fields.
    """
    transforms = []
    for index, step in enumerate(steps):
        where = f"transform step {index}"
        resolved = _resolve(step, where)
        try:
            transforms.append(A.from_dict({"transform": resolved}))
        except (TypeError, ValueError) as error:
            raise TransformConfigError(
                f"{where} ({resolved[CLASS_KEY]}): {_one_line(error)}"
            ) from error
    return A.Compose(transforms, bbox_params=_bbox_params(bbox_params))


def _bbox_params(params: Mapping[str, Any] | None) -> A.BboxParams | None:
    if params is None:
        return None
    # BboxParams itself accepts any of these and fails only on the first image.
    if params.get("format") not in BBOX_FORMATS:
        raise TransformConfigError(
            f"bbox_params: format must be one of {', '.join(BBOX_FORMATS)}, "
            f"got {params.get('format')!r}"
        )
    if not 0 <= params.get("min_visibility", 0) <= 1:
        raise TransformConfigError(
            f"bbox_params: min_visibility must be in [0, 1], got {params['min_visibility']!r}"
        )
    try:
        return A.BboxParams(**params)
    except (TypeError, ValueError) as error:
        raise TransformConfigError(f"bbox_params: {_one_line(error)}") from error


def _resolve(step: Any, where: str) -> dict[str, Any]:
    """Check one step and return it in ``A.from_dict`` form, nested steps included."""
    if not isinstance(step, Mapping):
        raise TransformConfigError(f"{where}: expected a mapping with {CLASS_KEY}, got {step!r}")
    step = dict(step)
    if NAME_KEY in step:
        if CLASS_KEY in step:
            raise TransformConfigError(f"{where}: give either {NAME_KEY} or {CLASS_KEY}, not both")
        step[CLASS_KEY] = step.pop(NAME_KEY)
    if CLASS_KEY not in step:
        raise TransformConfigError(f"{where}: missing {CLASS_KEY} (or {NAME_KEY}) in {step!r}")
    name = shorten_class_name(str(step[CLASS_KEY]))
    if name not in TRANSFORMS:
        raise TransformConfigError(
            f"{where}: unknown albumentations transform {name!r}{_suggest(name, TRANSFORMS)}"
        )
    parameters = inspect.signature(TRANSFORMS[name]).parameters
    unknown = [key for key in step if key not in parameters and key != CLASS_KEY]
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        raise TransformConfigError(
            f"{where} ({name}): unknown argument {unknown[0]!r}{_suggest(unknown[0], parameters)}"
        )
    if "p" in parameters:
        step.setdefault("p", parameters["p"].default)
    if "transforms" in step:
        step["transforms"] = [
            _resolve(inner, f"{where}.transforms[{number}]")
            for number, inner in enumerate(step["transforms"])
        ]
    return step


def _suggest(word: str, choices: Mapping[str, Any]) -> str:
    matches = difflib.get_close_matches(word, list(choices), n=3)
    return f"; did you mean {', '.join(matches)}?" if matches else ""


def _one_line(error: Exception) -> str:
    """Albumentations re-raises pydantic errors as multi-line text; keep field and message."""
    cause = error.__cause__
    if isinstance(cause, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in cause.errors()
        )
    return " ".join(str(error).split())
