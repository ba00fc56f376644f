"""The project's own errors: mistakes in the config, the data or a checkpoint.

The command line prints these as one line that names the culprit and exits 2.
Any other exception is a bug and keeps its full traceback.
"""

from __future__ import annotations

from .components.datasets._io import DatasetError


class ProjectError(Exception):
    """A user mistake, worded as one line that names the key, file or setting at fault."""


class ConfigError(ProjectError):
    """A config key holds a value the project cannot use."""


class CheckpointError(ProjectError):
    """A checkpoint is missing, unreadable, or was not written by ``train``."""


USER_ERRORS: tuple[type[Exception], ...] = (ProjectError, DatasetError)
"""What the CLI reports as one line. ``DatasetError`` comes from the vendored datasets
(``components/datasets/_io.py``), which do not import the project; it names the file."""
