"""Experiment loggers chosen by ``loggers:`` in the config, all for the same run.

``csv`` and ``tensorboard`` write into the run directory ``run_dir/run_name/version_N``;
``mlflow`` and ``wandb`` send the same metrics and hyperparameters to a tracking
server (or a local store) and need their optional package, e.g.
``pip install -e ".[mlflow]"``.
"""

from __future__ import annotations

import csv
import importlib
import os
from pathlib import Path

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import (
    CSVLogger,
    Logger,
    MLFlowLogger,
    TensorBoardLogger,
    WandbLogger,
)
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from .checkpoints import resumed_version
from .config import Config
from .errors import ConfigError

FILE_LOGGERS = ("csv", "tensorboard")
"""Loggers that own the run directory; the others log next to one of them."""


def build_loggers(config: Config) -> list[Logger]:
    """The file loggers first (they fix ``version_N``), then the tracking services.

    Resuming a checkpoint of this run logs into its ``version_N`` again.
    """
    if len(set(config.loggers)) < len(config.loggers):
        raise ConfigError(f"loggers: {config.loggers} names a logger twice")
    if config.loggers and not set(config.loggers) & set(FILE_LOGGERS):
        raise ConfigError(
            f"loggers: {config.loggers} needs csv or tensorboard too (they keep the run directory)"
        )
    loggers: list[Logger] = []
    resumed = resumed_version(config)
    for kind in sorted(config.loggers, key=lambda kind: kind not in FILE_LOGGERS):
        version = loggers[0].version if loggers else resumed
        if kind == "csv":
            loggers.append(RunCSVLogger(config.run_dir, name=config.run_name, version=version))
        elif kind == "tensorboard":
            loggers.append(TensorBoardLogger(config.run_dir, name=config.run_name, version=version))
        elif kind == "mlflow":
            loggers.append(mlflow_logger(config, Path(loggers[0].log_dir)))
        else:
            loggers.append(wandb_logger(config, Path(loggers[0].log_dir)))
    return loggers


class ContinuedWriter(ExperimentWriter):
    """Appends to an existing ``metrics.csv`` under its columns (Lightning's deletes it)."""

    def _check_log_dir_exists(self) -> None:  # Lightning's hook, called in __init__
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = next(csv.reader(file), [])


class RunCSVLogger(CSVLogger):
    """``CSVLogger`` whose ``metrics.csv`` keeps the epochs before a resume."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ContinuedWriter(log_dir=self.log_dir)
        return self._experiment


def mlflow_logger(config: Config, run_dir: Path) -> MLFlowLogger:
    """An MLflow run named after the run directory, in experiment ``mlflow.experiment_name``."""
    require("mlflow", "mlflow")
    settings = config.mlflow
    uri = settings.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri is None:
        uri = (config.run_dir / "mlruns").resolve().as_uri()
    if uri.startswith("file:"):  # MLflow 3 asks for this before using a local file store
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MLFlowLogger(
        experiment_name=settings.experiment_name or config.run_name,
        run_name=f"{config.run_name}/{run_dir.name}",
        tracking_uri=uri,
    )


def wandb_logger(config: Config, run_dir: Path) -> WandbLogger:
    """A Weights & Biases run whose local files live in the run directory."""
    require("wandb", "wandb")
    settings = config.wandb
    return WandbLogger(
        name=f"{config.run_name}/{run_dir.name}",
        project=settings.project or config.run_name,
        entity=settings.entity,
        offline=settings.offline,
        save_dir=str(run_dir),
    )


def require(module: str, extra: str) -> None:
    """Import ``module`` or stop with one line that says how to install it."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f'loggers: {extra} needs its package; install it with pip install -e ".[{extra}]"'
        ) from None
