"""Exceptions raised by the promptlib_rollback package.

RollbackError
 +-- ConfigurationError        invalid input, found before anything runs
 |    +-- RunNotFoundError     no run or result with that id
 +-- DrillError                a drill could not be set up or run
 +-- FeatureUnavailableError   a command's module is missing from this installation

A run that fails, is refused, matches no host or is cancelled raises nothing:
its RunResult carries the outcome.
"""

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


class RunNotFoundError(ConfigurationError):
    """No run folder or result exists for the requested run id."""


class DrillError(RollbackError):
    """A drill could not be prepared or run to the rollback step.

    ``run`` is the playbook run that failed, when the error came from one
    (for example the setup run), so callers can report its steps.
    """

    def __init__(self, message: str, *, run: RunResult | None = None, artifacts_dir: str | None = None) -> None:
        super().__init__(message)
        self.run = run
        self.artifacts_dir = artifacts_dir


class FeatureUnavailableError(RollbackError):
    """A function needs a module of this package that this installation does not have.

    ``module`` is the missing module's full name.
    """

    def __init__(self, message: str, *, module: str) -> None:
        super().__init__(message)
        self.module = module
