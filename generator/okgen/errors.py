"""The errors okgen shows its users: each one prints as a single line and exits non-zero."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class OkgenError(Exception):
    """Base of every error caused by user input; the CLI prints ``str(error)`` alone."""

    exit_code = 1


class InvalidNameError(OkgenError):
    """A project name that cannot become a Python package."""


class TargetExistsError(OkgenError):
    """The output directory exists and is not empty."""


class UnknownComponentError(OkgenError):
    """A component, task or backbone name that is not in the catalogue."""

    def __init__(
        self, kind: str, name: str, valid: Iterable[str], *, close: Iterable[str] | None = None
    ) -> None:
        super().__init__(f"unknown {kind} {name!r}{suggest(name, valid, close=close)}")


class IncompatibleChoiceError(OkgenError):
    """Choices that exist but do not fit together."""


class CatalogueError(OkgenError):
    """A catalogue.yaml that does not follow its schema."""


class TargetError(OkgenError):
    """An output folder okgen cannot write the project into."""


class AnswersFileError(OkgenError):
    """An answers file that cannot be read or does not validate."""


class DeclinedError(OkgenError):
    """The user answered no when asked to confirm; nothing was written."""


class NotAProjectError(OkgenError):
    """A command that needs a generated project was run outside one."""


class MergeConflictError(OkgenError):
    """A 3-way merge left conflict markers in the user's files."""

    exit_code = 2


class ProjectLockedError(OkgenError):
    """Another okgen command holds the project's lock for longer than okgen waits."""


class ConcurrentEditError(OkgenError):
    """A file changed on disk while okgen was changing the project."""


class BaseDamagedError(OkgenError):
    """The merge base in ``.okgen/objects`` lacks or garbles a file okgen needs."""


def suggest(name: str, valid: Iterable[str], *, close: Iterable[str] | None = None) -> str:
    """``"; did you mean 'x'? valid: a, b"`` for an error message.

    The closest names come from ``close`` when given (a list too long to print).
    """
    valid = sorted(valid)
    candidates = valid if close is None else list(close)
    matches = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in matches)}?" if matches else ""
    return f"{hint} valid: {', '.join(valid)}" if valid else hint
