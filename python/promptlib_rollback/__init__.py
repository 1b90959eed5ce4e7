"""Run the promptlib.rollback playbooks from Python and get structured results.

>>> from promptlib_rollback import run_procedure
>>> result = run_procedure("full", "inventories/production/hosts.yml")
>>> result.outcome, result.failed_step
"""

from __future__ import annotations

import logging

from .drill import SCENARIOS, run_drill
from .errors import ConfigurationError, DrillError, RollbackError
from .paths import default_artifacts_root, find_collection_root
from .procedures import PROCEDURES
from .results import DrillResult, RunResult, StepResult
from .runner import run_playbook, run_procedure

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "PROCEDURES",
    "SCENARIOS",
    "ConfigurationError",
    "DrillError",
    "DrillResult",
    "RollbackError",
    "RunResult",
    "StepResult",
    "__version__",
    "default_artifacts_root",
    "find_collection_root",
    "run_drill",
    "run_playbook",
    "run_procedure",
]
