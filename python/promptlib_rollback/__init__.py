"""Run the promptlib.rollback playbooks from Python and get structured results.

>>> from promptlib_rollback import run
>>> result = run("full", "inventories/drill/hosts.yml")
>>> result.outcome, result.failed_step

The public API is in :mod:`promptlib_rollback.api`; everything in its
``__all__`` is importable from here.
"""

from __future__ import annotations

import logging

from .api import (
    ISSUE_TYPES,
    OUTCOMES,
    RunHandle,
    as_dict,
    decide,
    diagnose,
    load_report,
    load_result,
    run,
    run_drill,
    start,
)
from .artifacts import DEFAULT_KEEP_RUNS
from .drill import SCENARIOS
from .errors import (
    ConfigurationError,
    DrillError,
    FeatureUnavailableError,
    RollbackError,
    RunNotFoundError,
)
from .paths import default_artifacts_root, find_collection_root
from .procedures import PROCEDURES
from .results import DrillResult, RunResult, StepEvent, StepResult
from .runner import run_playbook, run_procedure

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "DEFAULT_KEEP_RUNS",
    "ISSUE_TYPES",
    "OUTCOMES",
    "PROCEDURES",
    "SCENARIOS",
    "ConfigurationError",
    "DrillError",
    "DrillResult",
    "FeatureUnavailableError",
    "RollbackError",
    "RunHandle",
    "RunNotFoundError",
    "RunResult",
    "StepEvent",
    "StepResult",
    "__version__",
    "as_dict",
    "decide",
    "default_artifacts_root",
    "diagnose",
    "find_collection_root",
    "load_report",
    "load_result",
    "run",
    "run_drill",
    "run_playbook",
    "run_procedure",
    "start",
]
