"""okgen: generate standalone, editable PyTorch Lightning projects for computer vision."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("okgen")
except PackageNotFoundError:  # running from a source checkout that was never installed
    __version__ = "0.0.0+source"
