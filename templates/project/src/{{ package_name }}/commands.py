"""What each command-line verb does. Every function takes the validated config."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml

from .build import build_data, build_task, load_task
from .checkpoints import check_resume, for_evaluation, resume_path
from .components.backbones.weights import save_backbone
from .components.export.onnx import check_onnx, export_onnx
from .components.datasets._io import DatasetError
from .config import Config, pick
from .data import DATASET_FORMATS, write_sample_data
from .errors import ConfigError
from .plots import denormalizer, read_curves, save_grid, save_training_curves
from .progress import files_written, step
from .tasks import ImageTask
from .trainer import build_trainer

NULL_CLASS_NAMES = re.compile(r"^(  class_names: )null\b.*$", re.MULTILINE)
"""The config's ``model.class_names: null`` line, which ``sample-data`` fills in."""


def train(config: Config) -> dict[str, float]:
    """Fit, keeping checkpoints, the resolved config and metrics.csv in the run directory.

    A run that fails before its first checkpoint leaves no run directory behind;
    ``trainer.fast_dev_run`` is a smoke test that keeps nothing.
    """
    L.seed_everything(config.trainer.seed, workers=True)
    config = with_class_names(config)
    config = config.model_copy(update={"resume": resume_path(config)})  # `last` made a path
    check_resume(config)
    task, data = build_task(config), build_data(config)
    trainer = build_trainer(config)
    try:
        trainer.fit(task, datamodule=data, ckpt_path=config.resume)
    except BaseException:
        if trainer.loggers and trainer.is_global_zero:  # no broadcast: the others may be gone
            _discard_unfinished_run(Path(trainer.loggers[0].log_dir or config.run_dir))
        raise
    metrics = _as_floats(trainer.callback_metrics)
    run_dir = Path(trainer.log_dir or config.run_dir)  # a broadcast under DDP: all ranks ask
    if trainer.loggers and trainer.is_global_zero:
        _write_json(run_dir / "metrics.json", metrics)
        if (run_dir / "metrics.csv").is_file():
            curves = read_curves(run_dir / "metrics.csv")
            save_training_curves(curves, config.checkpoint.monitor, run_dir / "curves.png")
        print(f"run directory: {run_dir}")
    return metrics


def evaluate(config: Config, stage: str) -> dict[str, float]:
    """``validate`` or ``test`` a checkpoint; writes ``<run>/<stage>/metrics.json``.

    ``test`` also draws the task's diagnostics there (e.g. a confusion matrix).
    """
    checkpoint, config, task = load_run(config)
    trainer = build_trainer(config, fit=False)
    data = build_data(config)
    run = trainer.validate if stage == "validate" else trainer.test
    results = run(task, datamodule=data, verbose=False)
    if not results:  # Lightning ran no batch
        split = "val" if stage == "validate" else "test"
        raise ConfigError(f"{stage}: the {split} split under {config.data.root} has no images")
    metrics = _as_floats(results[0])
    directory = _output_dir(checkpoint, stage)
    _write_json(directory / "metrics.json", metrics)
    if stage == "test" and trainer.is_global_zero:
        for path in task.draw_diagnostics(directory, denormalizer(data.eval_transform)):
            print(f"wrote {path}")
    return metrics


def predict(config: Config) -> Path:
    """Predict every image under ``data.predict_root``; the task decides the file format."""
    checkpoint, config, task = load_run(config)
    trainer = build_trainer(config, fit=False)
    outputs = trainer.predict(task, datamodule=build_data(config))
    return task.write_predictions(outputs, _output_dir(checkpoint, "predict"))


def export(config: Config) -> Path:
    """ONNX with a dynamic batch axis, checked against onnxruntime before it is kept."""
    checkpoint, config, task = load_run(config)
    size = config.data.image_size
    sample = torch.rand(1, 3, size, size)
    module, names = task.exportable()
    path = _output_dir(checkpoint, "export") / "model.onnx"
    with step(f"exporting {path}"):
        export_onnx(module, sample, path, output_names=names)
    with step("checking it against onnxruntime"):
        difference = check_onnx(path, module, sample)
    print(f"onnxruntime matches torch (max abs difference {difference:.2e})")
    return path


def export_backbone(config: Config) -> Path:
    """The trained backbone's weights, for ``model.backbone.params.pretrained`` elsewhere."""
    checkpoint, config, task = load_run(config)
    path = save_backbone(task.model.backbone, _output_dir(checkpoint, "export") / "backbone.pth")
    print(f"use it in another project: model.backbone.params.pretrained={path.resolve()}")
    return path


def linear_probe(config: Config) -> dict[str, float]:
    """Linear-probe (and kNN) accuracy of the frozen features on the labelled val split."""
    checkpoint, config, task = load_run(config)
    probe = getattr(task, "probe", None)
    if probe is None:
        raise ConfigError(f"linear-probe: a {config.task} run has no frozen features to probe")
    data = build_data(config)
    data.setup("validate")
    if len(data.datasets["val"]) == 0:
        raise ConfigError(f"linear-probe: no labelled images under {config.data.root}/val")
    metrics = probe(data.datasets["val"], config.model.num_classes, config.data.batch_size)
    _write_json(_output_dir(checkpoint, "linear_probe") / "metrics.json", metrics)
    return metrics


def preview(config: Config, count: int) -> Path:
    """``<run_dir>/<run_name>/preview.png``: ``count`` training samples as the model sees
    them (after ``augmentations.train``, de-normalised), labelled by the task."""
    config = with_class_names(config)
    task, data = build_task(config), build_data(config)
    data.setup("fit")
    split = data.datasets["train"]
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(config.trainer.seed))
    to_picture = denormalizer(data.train_transform)
    tiles = [task.preview_tile(*split[index], to_picture) for index in order[:count].tolist()]
    title = f"{len(tiles)} augmented training samples ({config.data.format}, {config.data.root})"
    path = config.run_dir / config.run_name / "preview.png"
    return save_grid(tiles, path, title=title, legend=task.legend(config.model.num_classes))


def with_class_names(config: Config) -> Config:
    """``config`` with the class names of data that names its classes (``classes``: the
    class folders of image_folder, the columns of a one-hot CSV, COCO's categories,
    YOLO's ``data.yaml``).

    ``model.class_names`` left null are read from the train split; names given must be
    those. Data that does not name its classes keeps the config's names.
    """
    dataset_format = pick(DATASET_FORMATS, config.data.format, "data.format")
    try:
        split = dataset_format.dataset(
            config.data.root, "train", config.model.num_classes, build_data(config).eval_transform
        )
    except DatasetError:  # no readable train split: fit reports why, in its own words
        return config
    found, given = getattr(split, "classes", None), config.model.class_names
    if found is None or given == found:
        return config
    if given is not None:
        raise ConfigError(
            f"model.class_names: {given} differ from the classes {found} "
            f"of {config.data.root}/train; leave them null to use the data's"
        )
    model = config.model.model_copy(update={"class_names": list(found)})
    return config.model_copy(update={"model": model})


def sample_data(config: Config, root: Path | None, config_path: Path) -> Path:
    """Write a small synthetic dataset in the configured format.

    Where the format does not name its classes itself (image_folder's folders do) and
    ``model.class_names`` is null in the config file at ``config_path``, the sample's
    class names are written there.
    """
    target = Path(root or config.data.root)
    with files_written(target, f"sample-data {config.data.format}"):
        names = write_sample_data(config.data, config.model.num_classes, target)
    sample = config.model_copy(update={"data": config.data.model_copy(update={"root": target})})
    if names and config.model.class_names is None and not with_class_names(sample).model.class_names:
        listed = yaml.safe_dump(names, default_flow_style=True, width=1000).strip()
        text = config_path.read_text()
        named = NULL_CLASS_NAMES.sub(rf"\g<1>{listed}  # the sample's classes", text, count=1)
        if named != text:
            config_path.write_text(named)
            print(f"wrote model.class_names: {listed} to {config_path}")
    return target


def load_run(config: Config) -> tuple[Path, Config, ImageTask]:
    """The checkpoint to evaluate, the config it was trained with, and its trained task.

    The model comes from the checkpoint's own config; data paths, batch size,
    workers and hardware come from ``config`` (see ``config.EVALUATION_SETTINGS``).
    """
    path = find_checkpoint(config)
    trained, task = load_task(path, "ckpt_path")
    return path, for_evaluation(trained, config), task


def find_checkpoint(config: Config) -> Path:
    """``ckpt_path`` from the config, else the newest run's best checkpoint."""
    if config.ckpt_path is not None:
        return config.ckpt_path
    candidates = sorted(
        (config.run_dir / config.run_name).glob("version_*/checkpoints/best*.ckpt"),
        key=lambda path: path.stat().st_mtime,
    )
    if not candidates:
        raise ConfigError(
            f"no checkpoint under {config.run_dir / config.run_name}; train first or set ckpt_path="
        )
    return candidates[-1]


def _discard_unfinished_run(run_dir: Path) -> None:
    """Remove the directory of a run that failed before writing any checkpoint."""
    if run_dir.is_dir() and not any(run_dir.glob("checkpoints/*.ckpt")):
        shutil.rmtree(run_dir)
        if not any(run_dir.parent.iterdir()):  # the run's name held only this run
            run_dir.parent.rmdir()


def _output_dir(checkpoint: Path, stage: str) -> Path:
    """``<run>/<stage>`` for a checkpoint inside ``<run>/checkpoints``."""
    run = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent
    directory = run / stage
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _as_floats(metrics: dict[str, Any]) -> dict[str, float]:
    return {name: float(value) for name, value in sorted(metrics.items())}


def _write_json(path: Path, metrics: dict[str, float]) -> None:
    path.write_text(json.dumps(metrics, indent=2) + "\n")
