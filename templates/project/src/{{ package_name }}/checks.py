"""Fast checks before a long run: ``check-data`` scans the dataset, ``check-model``
builds the network and runs one forward pass on the CPU."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from .build import build_data, build_model
from .components.datasets._io import DatasetError
from .components.datasets.unlabeled_folder import UnlabeledFolderDataset
from .config import Config
from .data import label_counts
from .errors import ConfigError, ProjectError

SPLITS = ("train", "val", "test")


def check_data(config: Config) -> dict[str, str]:
    """Read every image (and mask) of every split; report every problem at once.

    Checks that each split can be listed, every image decodes, every mask matches
    its image and holds valid class indices, and labels lie in ``[0, num_classes)``.
    Returns images per split and per class; raises ``ProjectError`` after printing
    the problems, if there are any.
    """
    data = build_data(config)
    num_classes = config.model.num_classes
    problems: list[str] = []
    report: dict[str, str] = {}
    datasets: dict[str, Dataset] = {}
    classes: dict[str, int] = {}
    for split in SPLITS:
        # Open-set formats: val and test hold new identities, checked without num_classes.
        closed = split == "train" or not data.dataset_format.open_set
        try:
            datasets[split] = data.dataset_format.dataset(
                config.data.root, split, num_classes if closed else None
            )
            classes[split] = num_classes if closed else len(datasets[split].identities)  # type: ignore[attr-defined]
        except DatasetError as error:
            problems.append(str(error))
    predict_root = Path(config.data.root) / config.data.predict_root
    try:
        datasets["predict"] = UnlabeledFolderDataset(predict_root)
    except DatasetError as error:
        problems.append(f"predict: {error}")
    for split, dataset in datasets.items():
        counts, failures = _scan(dataset, classes.get(split, num_classes))
        problems += failures
        report[split] = f"{len(dataset)} images"
        if split != "predict":
            report[split] += f"; per class: {' '.join(map(str, counts))}"
            missing = [k for k, count in enumerate(counts) if count == 0]
            if split == "train" and missing:
                problems.append(f"train: no image of class {', '.join(map(str, missing))}")
    for problem in problems:
        print(f"problem: {problem}")
    if problems:
        raise ProjectError(f"check-data: {len(problems)} problem(s) in {config.data.root}")
    return report


def _scan(dataset: Dataset, num_classes: int) -> tuple[list[int], list[str]]:
    """Load every item: images (or mask pixels) per class, and one line per failed item."""
    counts = label_counts(dataset, num_classes) or [0] * num_classes

    def load(index: int) -> str | torch.Tensor | None:
        try:
            _, target = dataset[index]
        except DatasetError as error:
            return str(error)
        if isinstance(target, dict):  # boxes: the classes of this image's boxes
            return torch.bincount(target["labels"], minlength=num_classes)[:num_classes]
        is_mask = isinstance(target, torch.Tensor) and target.dim() == 2
        return torch.bincount(target.flatten(), minlength=256)[:num_classes] if is_mask else None

    failures: list[str] = []
    with ThreadPoolExecutor(max_workers=8) as pool:  # PIL decodes outside the GIL
        for result in pool.map(load, range(len(dataset))):
            if isinstance(result, str):
                failures.append(result)
            elif result is not None:  # a mask or boxes: count the images each class appears in
                present = (result > 0).tolist()
                counts = [count + int(flag) for count, flag in zip(counts, present, strict=True)]
    return counts, failures


def check_model(config: Config) -> dict[str, str]:
    """Build the configured model on the CPU and run one forward pass at ``data.image_size``."""
    model = build_model(config).eval()
    size = config.data.image_size
    try:
        with torch.no_grad():
            logits = model(torch.rand(2, 3, size, size))
    except RuntimeError as error:
        message = str(error).strip().splitlines()[0]
        raise ConfigError(f"model: a forward pass at {size}x{size} fails: {message}") from None
    parts = [config.model.backbone.name, config.model.neck.name]
    parts += [config.model.pooling.name] if config.model.pooling else []
    return {
        "model": " -> ".join([*parts, config.model.head.name]),
        "parameters": f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M",
        "backbone_out": _channels_at_strides(model.backbone),
        "neck_out": _channels_at_strides(model.neck),
        "input": f"(2, 3, {size}, {size})",
        "output": str(tuple(logits.shape)),
        "status": "OK",
    }


def _channels_at_strides(module: Any) -> str:
    """``"64@2 128@4"``: the channels of each feature map, at its stride."""
    pairs = zip(module.out_channels, module.strides, strict=True)
    return " ".join(f"{channels}@{stride}" for channels, stride in pairs) + " (channels@stride)"
