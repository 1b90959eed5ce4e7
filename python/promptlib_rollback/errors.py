"""Exceptions raised by the promptlib_rollback package."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .results import RunResult


class RollbackError(Exception):
    """Base class of every error this package raises."""


class ConfigurationError(RollbackError):
    """Invalid input: a missing file, an unknown name or a malformed option.

    The message names the rejected value and how to fix it.
    """


class DrillError(RollbackError):
    """A drill could not be prepared or run to the rollback step.

    ``run`` is the playbook run that failed, when the error came from one
    (for example the setup run), so callers can report its steps.
    """

    def __init__(self, message: str, *, run: RunResult | None = None, artifacts_dir: str | None = None) -> None:
        super().__init__(message)
        self.run = run
        self.artifacts_dir = artifacts_dir
