"""The project's own errors: mistakes in the config, the data or a checkpoint.

The command line prints these as one line that names the culprit and exits 2.
Any other exception is a bug and keeps its full traceback.
"""

from __future__ import annotations

from .components.callbacks.unfreeze import UnfreezeScheduleError
from .components.datasets._io import DatasetError


class ProjectError(Exception):
    """A user mistake, worded as one line that names the key, file or setting at fault."""


class ConfigError(ProjectError):
    """A config key holds a value the project cannot use."""


class CheckpointError(ProjectError):
    """A checkpoint is missing, unreadable, or was not written by ``train``."""


USER_ERRORS: tuple[type[Exception], ...] = (ProjectError, DatasetError, UnfreezeScheduleError)
"""What the CLI reports as one line. The vendored components do not import the project,
so their own user-error types are listed here: ``DatasetError`` names the data file at
fault, ``UnfreezeScheduleError`` the ``unfreeze:`` module that does not exist."""
