"""Which square input sizes a timm model takes, found without building its weights.

``input_size_contract(model_name)`` reads what timm declares (the pretrained
config's ``input_size``, ``min_input_size`` and ``fixed_input_size``, whether the
model class takes ``img_size`` / ``dynamic_img_size``, and the deepest feature
stride), then confirms the sizes it allows by running the ``features_only``
model on the meta device (shapes only: no weights, no compute), which also
catches window or block constraints that timm does not declare. The result, an
``InputSizeContract``, checks a size in microseconds and says in one line which
sizes work, so that a config can be rejected before training starts.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, replace
from typing import Any

import timm
import torch
from torch import nn

# Creation arguments by which a timm model class adapts to the input size.
SIZE_ARGUMENTS = ("img_size", "dynamic_img_size")
# Multiples of the deepest stride tried when the stride alone does not describe the sizes,
# besides the divisors of default size / stride (halo attention in 7x7 blocks: 224 = 7 * 32).
_MULTIPLIERS = {1, 2, 4, 8}
# Meta-device probes allowed per contract (each builds the model once, about 0.2 s).
_MAX_PROBES = 8


@dataclass(frozen=True)
class InputSizeContract:
    """The square image sizes ``H = W`` a timm backbone takes.

    A size works when it equals ``fixed`` (if set), or else when it is a multiple
    of ``multiple_of`` and at least ``min_size``.

    Attributes:
        model_name: The timm model name.
        multiple_of: Every size must be a multiple of this (the deepest stride, or
            more where the model's windows or blocks need it).
        min_size: The smallest size that works.
        fixed: The only size that works, for models built for one size.
        size_arguments: Which of ``img_size`` and ``dynamic_img_size`` the model
            class takes at creation; see ``create_kwargs``.
        probed: Whether the sizes were confirmed by a meta-device forward pass
            (``False`` when the model cannot run on the meta device: then the
            contract rests on what timm declares).
    """

    model_name: str
    multiple_of: int
    min_size: int
    fixed: int | None = None
    size_arguments: tuple[str, ...] = ()
    probed: bool = False

    def works(self, size: int) -> bool:
        """Whether an ``size x size`` input fits the contract."""
        if self.fixed is not None:
            return size == self.fixed
        return size >= self.min_size and size % self.multiple_of == 0

    def check(self, size: int) -> str | None:
        """``None`` if ``size`` works, else a one-line reason that names sizes which do."""
        if self.works(size):
            return None
        if self.fixed is not None:
            return f"{self.model_name} only takes {self.fixed}x{self.fixed} images, not {size}"
        near = sorted({self._round(size, down=True), self._round(size, down=False)})
        return (
            f"{self.model_name} takes image sizes that are multiples of {self.multiple_of}"
            f" from {self.min_size} on (e.g. {' or '.join(map(str, near))}), not {size}"
        )

    def create_kwargs(self, size: int | None) -> dict[str, Any]:
        """Arguments for ``timm.create_model`` that build the model for ``size``.

        The model is built at ``size`` (``img_size``) and, where the class supports
        it, made to take any working size at run time (``dynamic_img_size``).
        """
        if size is None:
            return {}
        kwargs: dict[str, Any] = {}
        if "img_size" in self.size_arguments:
            kwargs["img_size"] = size
        if "dynamic_img_size" in self.size_arguments:
            kwargs["dynamic_img_size"] = True
        return kwargs

    def _round(self, size: int, down: bool) -> int:
        steps = size // self.multiple_of if down else -(-size // self.multiple_of)
        return max(steps * self.multiple_of, self.min_size)


def input_size_contract(
    model_name: str, in_chans: int = 3, **timm_kwargs: Any
) -> InputSizeContract:
    """The input sizes ``model_name`` takes as a ``features_only`` backbone.

    Builds the model on the meta device only (well under a second for most
    models; the result is cached); falls back to a CPU build when the model
    cannot be built there. ``timm_kwargs`` are those given to the backbone.

    Raises:
        ValueError: ``model_name`` is not a timm model, or declares no feature maps.
    """
    key = (model_name, in_chans, tuple(sorted(timm_kwargs.items())))
    try:
        hash(key)
    except TypeError:  # an unhashable timm argument: no caching
        return _contract(model_name, in_chans, timm_kwargs)
    return _cached_contract(*key)


@functools.lru_cache(maxsize=64)
def _cached_contract(
    model_name: str, in_chans: int, timm_items: tuple[tuple[str, Any], ...]
) -> InputSizeContract:
    return _contract(model_name, in_chans, dict(timm_items))


def _contract(model_name: str, in_chans: int, timm_kwargs: dict[str, Any]) -> InputSizeContract:
    if ":" not in model_name and not timm.is_model(model_name):
        raise ValueError(f"backbone: unknown timm model {model_name!r}")
    timm_kwargs = {k: v for k, v in timm_kwargs.items() if k not in SIZE_ARGUMENTS}
    model = _create(model_name, in_chans=in_chans, **timm_kwargs)
    feature_info = getattr(model, "feature_info", None)
    if not feature_info:
        raise ValueError(f"backbone: timm model {model_name!r} declares no feature maps")
    entries = getattr(feature_info, "info", feature_info)
    stride = max(entry["reduction"] for entry in entries)
    config = getattr(model, "pretrained_cfg", None) or {}
    default = config.get("input_size", (in_chans, 224, 224))[-1]
    min_size = max(stride, (config.get("min_input_size") or (0, 0, 0))[-1])
    arguments = _creation_arguments(type(model))
    sizes = tuple(name for name in SIZE_ARGUMENTS if name in arguments)
    if config.get("fixed_input_size") and "img_size" not in sizes:
        return InputSizeContract(model_name, stride, default, fixed=default, size_arguments=sizes)
    declared = InputSizeContract(model_name, stride, min_size, size_arguments=sizes)
    return _Prober(declared, in_chans, timm_kwargs).confirm(default)


class _Prober:
    """Finds the sizes a model takes by meta-device forward passes of its feature model."""

    def __init__(
        self, declared: InputSizeContract, in_chans: int, timm_kwargs: dict[str, Any]
    ) -> None:
        self.declared = declared
        self.in_chans = in_chans
        self.timm_kwargs = timm_kwargs
        self.results: dict[int, bool] = {}

    def confirm(self, default: int) -> InputSizeContract:
        """The declared contract, with the sizes confirmed by probes.

        Tries multiples of the stride, then of 2, 4, 8 times it and of the divisors
        of ``default / stride``; a multiple is kept when its two smallest sizes work.
        When none is found, the model is fixed at its ``default`` size if that one
        works; if the model does not even run at its default size on the meta
        device, the declared contract is kept unprobed.
        """
        found = self._search(default)
        if found is not None:
            return found
        if self._works(default):
            return replace(self.declared, min_size=default, fixed=default, probed=True)
        return self.declared

    def _search(self, default: int) -> InputSizeContract | None:
        stride, floor = self.declared.multiple_of, self.declared.min_size
        steps = default // stride if default % stride == 0 else 1
        divisors = {d for d in range(1, steps + 1) if steps % d == 0}
        for multiplier in sorted(_MULTIPLIERS | divisors):
            if multiplier > 1 and not any(self.results.values()) and not self._works(default):
                return None  # nothing runs on the meta device
            multiple = stride * multiplier
            first = -(-floor // multiple) * multiple
            for start in (first, first + multiple):
                if len(self.results) >= _MAX_PROBES - 1:
                    return None
                if self._works(start) and self._works(start + multiple):
                    return replace(self.declared, multiple_of=multiple, min_size=start, probed=True)
        return None

    def _works(self, size: int) -> bool:
        if size not in self.results:
            self.results[size] = self._forward(size)
        return self.results[size]

    def _forward(self, size: int) -> bool:
        kwargs = self.declared.create_kwargs(size)
        try:
            with torch.device("meta"):
                model = timm.create_model(
                    self.declared.model_name,
                    features_only=True,
                    pretrained=False,
                    in_chans=self.in_chans,
                    **kwargs,
                    **self.timm_kwargs,
                ).eval()
            with torch.no_grad():
                model(torch.empty(2, self.in_chans, size, size, device="meta"))
        except Exception:  # any failure means: this size does not run
            return False
        return True


def _create(model_name: str, **kwargs: Any) -> nn.Module:
    """The classification model, on the meta device if it can be built there."""
    try:
        with torch.device("meta"):
            return timm.create_model(model_name, pretrained=False, **kwargs)
    except (NotImplementedError, RuntimeError):  # an initializer that reads tensor values
        return timm.create_model(model_name, pretrained=False, **kwargs)


def _creation_arguments(cls: type[nn.Module]) -> set[str]:
    """Names the ``__init__`` of ``cls`` takes, following ``**kwargs`` up to base classes."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        parameters = inspect.signature(klass.__init__).parameters.values()
        names.update(p.name for p in parameters if p.kind is not p.VAR_KEYWORD)
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return names
