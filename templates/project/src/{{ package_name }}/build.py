"""Everything built from the config, in one place: model, criterion, task and data.

The classes assembled here take plain parts (modules and settings), never the
whole config, so a notebook or another project can build them by hand.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

from .callbacks import CALLBACKS
from .checkpoints import read_checkpoint, trained_config
from .components.backbones.timm_backbone import TimmBackbone
from .components.backbones.weights import BackboneWeightsError, load_backbone_weights
from .components.losses.weighted_sum import WeightedSum
from .config import Config, LossSpec, check_params, pick
from .data import DATASET_FORMATS, DataModule, build_pipeline
from .errors import ConfigError
from .losses import EMBEDDING_LOSSES, LOSSES, MarginLoss
from .model import HEAD_INPUTS, HEADS, NECKS, POOLINGS, ImageModel, check_shapes
from .tasks import TASKS, ImageTask

T = TypeVar("T")


def build_model(config: Config) -> ImageModel:
    """backbone -> neck -> pooling -> head, wiring channels and strides through."""
    model = config.model
    check_shapes(model)
    # The backbone is built for the training size; timm models with a fixed input
    # size (ViT, Swin) then take it, or fail with a message that names the sizes they take.
    params = {"img_size": config.data.image_size, **model.backbone.params}
    if params["img_size"] != config.data.image_size:
        raise ConfigError(
            f"model.backbone.params.img_size: {params['img_size']} differs from data.image_size "
            f"{config.data.image_size}; leave it out to use data.image_size"
        )
    backbone = build_backbone(model.backbone.name, params)
    neck_cls = pick(NECKS, model.neck.name, "model.neck.name")
    neck = construct(neck_cls, model.neck.params, "model.neck", backbone.out_channels, backbone.strides)
    channels = neck.out_channels[-1]
    pooling = None
    if model.pooling is not None:
        pooling_cls = pick(POOLINGS, model.pooling.name, "model.pooling.name")
        pooling = construct(pooling_cls, model.pooling.params, "model.pooling", channels)
        channels = pooling.out_channels
    head_cls = pick(HEADS, model.head.name, "model.head.name")
    if HEAD_INPUTS[model.head.name] == "pyramid":  # every level, all of one width
        inputs = (neck.out_channels[0], model.num_classes, neck.strides)
        head = construct(head_cls, model.head.params, "model.head", *inputs)
        return ImageModel(backbone, neck, pooling, head, pyramid=True)
    # A classifier head takes the number of classes; an embedding head sets its own size.
    outputs = (model.num_classes,) if TASKS[config.task].head_classifies else ()
    head = construct(head_cls, model.head.params, "model.head", channels, *outputs)
    return ImageModel(backbone, neck, pooling, head)


def build_backbone(name: str, params: Mapping[str, Any]) -> TimmBackbone:
    """The timm backbone; ``pretrained: <path>`` to an ``export-backbone`` file is loaded checked.

    Such a file (the backbone's own state dict) must fit exactly: missing or
    unexpected keys and tensors of another shape are a ConfigError naming a few.
    Any other file goes to timm as a checkpoint of the bare timm model.
    """
    pretrained = params.get("pretrained")
    if not (isinstance(pretrained, str) and _is_backbone_export(Path(pretrained))):
        return construct(TimmBackbone, params, "model.backbone", name)
    backbone = construct(TimmBackbone, {**params, "pretrained": False}, "model.backbone", name)
    try:
        load_backbone_weights(backbone, pretrained)
    except BackboneWeightsError as error:
        raise ConfigError(f"model.backbone.params.pretrained: {error}") from None
    return backbone


def _is_backbone_export(path: Path) -> bool:
    """Whether ``path`` holds a ``TimmBackbone`` state dict (keys ``model.*``)."""
    if not path.is_file():
        return False
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not ours (e.g. safetensors): timm reads it
        return False
    return isinstance(state, dict) and any(str(key).startswith("model.") for key in state)


def build_margin_head(config: Config, model: ImageModel) -> nn.Module | None:
    """``model.margin_head`` over the embedding head's output, or None when unset."""
    spec = config.model.margin_head
    if spec is None:
        return None
    head_cls = pick(HEADS, spec.name, "model.margin_head.name")
    embedding_dim = model.head.embedding_dim
    return construct(head_cls, spec.params, "model.margin_head", embedding_dim, config.model.num_classes)


def build_criterion(
    specs: list[LossSpec], margin_head: nn.Module | None = None, **given: Any
) -> WeightedSum:
    """One ``WeightedSum`` term per ``losses:`` entry; each term is logged on its own.

    ``given`` are arguments every loss gets from the network (``ImageTask.loss_arguments``);
    a loss's own ``params`` override them. With a margin head, the model outputs
    embeddings: a loss of logits scores the margin head's logits (``MarginLoss``), an
    embedding loss the embeddings.
    """
    terms: dict[str, tuple[nn.Module, float]] = {}
    for index, spec in enumerate(specs):
        loss_cls = pick(LOSSES, spec.name, f"losses.{index}.name")
        name = spec.name if spec.name not in terms else f"{spec.name}_{index}"  # e.g. two CEs
        loss = construct(loss_cls, given | spec.params, f"losses.{index}")
        if margin_head is not None and spec.name not in EMBEDDING_LOSSES:
            loss = MarginLoss(margin_head, loss)
        terms[name] = (loss, spec.weight)
    return WeightedSum(terms)


def build_task(config: Config) -> ImageTask:
    """The task's LightningModule, from the parts the config describes."""
    task_cls = TASKS[config.task]
    metrics = construct(
        task_cls.metrics_factory, config.metrics, "metrics", config.model.num_classes, nested=False
    )
    shared = {k: v for k, v in config.metrics.items() if k in task_cls.shared_metric_settings}
    if not task_cls.head_classifies and config.model.class_names is not None:
        raise ConfigError(
            f"model.class_names: a {config.task} model outputs embeddings, not classes; "
            "remove the setting"
        )
    model = build_model(config)
    if not task_cls.head_classifies and config.model.margin_head is None:
        for index, spec in enumerate(config.losses):
            if spec.name not in EMBEDDING_LOSSES:
                raise ConfigError(
                    f"losses.{index}: {spec.name} scores logits, but the model outputs "
                    "embeddings; set model.margin_head (e.g. arcface) or use an embedding loss"
                )
    task = task_cls(
        model,
        build_criterion(
            config.losses, build_margin_head(config, model), **task_cls.loss_arguments(model)
        ),
        metrics,
        config.optimizer,
        config.scheduler,
        monitor=(config.checkpoint.monitor, config.checkpoint.mode),
        channels_last=config.trainer.channels_last,
        compile=config.trainer.compile,
        diagnostics=task_cls.diagnostic_metrics(config.model.num_classes),
        **shared,
    )
    task.class_names = list(config.model.class_names or [])
    return task


def build_data(config: Config) -> DataModule:
    """The DataModule: the dataset format, its splits, the augmentations and the loaders."""
    size, boxes = config.data.image_size, config.augmentations.bbox_params
    return DataModule(
        pick(DATASET_FORMATS, config.data.format, "data.format"),
        config.data,
        build_pipeline(config.augmentations.train, size, "augmentations.train", boxes),
        build_pipeline(config.augmentations.val, size, "augmentations.val", boxes),
        config.model.num_classes,
    )


def build_callbacks(config: Config) -> list[Callback]:
    """One callback per entry under ``callbacks:``, built with its parameters.

    A callback that takes an ``image_size`` (ONNX export) gets ``data.image_size``;
    giving it another size is a ``ConfigError``.
    """
    callbacks = []
    for name, params in config.callbacks.items():
        factory = pick(CALLBACKS, name, "callbacks")
        if "image_size" in inspect.signature(factory).parameters:
            params = {"image_size": config.data.image_size, **params}
            if (size := params["image_size"]) != config.data.image_size:
                raise ConfigError(
                    f"callbacks.{name}.image_size: {size} differs from data.image_size "
                    f"{config.data.image_size}; leave it out to use data.image_size"
                )
        callbacks.append(construct(factory, params, f"callbacks.{name}", nested=False))
    return callbacks


def load_task(path: Path, key: str) -> tuple[Config, ImageTask]:
    """The config a checkpoint was trained with, and its task with the trained weights.

    ``key`` names the setting that gave ``path`` (e.g. ``ckpt_path``) in errors.
    """
    checkpoint = read_checkpoint(path, key)
    config = trained_config(checkpoint, path, key)
    task = build_task(config)
    task.load_state_dict(checkpoint["state_dict"])
    return config, task


def construct(
    factory: Callable[..., T],
    params: Mapping[str, Any],
    key: str,
    *args: Any,
    nested: bool = True,
) -> T:
    """``factory(*args, **params)``; a bad param or value is a ConfigError naming ``key``.

    Components raise ``ValueError`` for values they cannot use, such as an unknown
    timm model; here that becomes one line that names the config key.
    """
    params_key = f"{key}.params" if nested else key
    check_params(factory, params, params_key)
    try:
        return factory(*args, **params)
    except ValueError as error:
        # Components prefix their messages with their kind ("backbone: ..."); say it once.
        message = str(error).removeprefix(f"{key.rsplit('.', 1)[-1]}: ")
        raise ConfigError(f"{key}: {message}") from None
