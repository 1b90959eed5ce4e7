"""The rollback decision matrix and authority table, read from the collection.

The matrix lives in one file, ``data/decision-matrix.yml`` in the collection, and is
parsed by ``plugins/plugin_utils/decision.py``, which the collection's filter plugins
use too. This module loads that parser from the collection by path, so the command
line, the Python API and the playbooks can never disagree about a row.
"""

from __future__ import annotations

import importlib.util
import logging
import shlex
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import ConfigurationError
from .paths import find_collection_root

logger = logging.getLogger(__name__)

PARSER_RELATIVE_PATH = Path("plugins") / "plugin_utils" / "decision.py"
MATRIX_RELATIVE_PATH = Path("data") / "decision-matrix.yml"
_MODULE_NAME = "promptlib_rollback._collection_decision"


@dataclass(frozen=True)
class Decision:
    """One row of the decision matrix, joined with its procedure and authority.

    ``playbook`` is relative to the collection root and ``playbook_present`` says
    whether this copy of the collection has it. ``rollback`` is False for the
    rows that answer that no rollback is needed, with ``no_rollback_reason``.
    """

    issue_type: str
    issue: str
    severity: str
    max_decision_minutes: int
    rollback_type: str
    rollback_type_id: str
    procedure: str
    playbook: str | None
    playbook_present: bool
    description: str
    estimated_minutes: list[int] | None
    rollback: bool
    no_rollback_reason: str | None
    authority: dict[str, Any]
    trigger: dict[str, Any] | None

    @property
    def approval_required(self) -> bool:
        return bool(self.authority["approval_required"])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _parser_module(root: Path) -> ModuleType:
    """Import the collection's matrix parser from ``root`` (cached per root)."""
    path = root / PARSER_RELATIVE_PATH
    cached = sys.modules.get(_MODULE_NAME)
    if cached is not None and getattr(cached, "__file__", None) == str(path):
        return cached
    if not path.is_file():
        raise ConfigurationError(f"The decision matrix parser {path} is missing. Check the collection checkout.")
    spec = importlib.util.spec_from_file_location(_MODULE_NAME, path)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"The decision matrix parser {path} cannot be loaded.")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[_MODULE_NAME] = module
    return module


def load_matrix(root: Path | None = None) -> tuple[ModuleType, dict[str, Any]]:
    """Return the parser module and the checked matrix of the collection at ``root``.

    Raises:
        ConfigurationError: the matrix file is missing or invalid.
    """
    root = root or find_collection_root()
    parser = _parser_module(root)
    try:
        return parser, parser.load_matrix(str(root / MATRIX_RELATIVE_PATH))
    except parser.DecisionMatrixError as exc:
        raise ConfigurationError(str(exc)) from exc


def issue_types(root: Path | None = None) -> list[str]:
    """Return the issue types in the order of the matrix, most severe first."""
    parser, matrix = load_matrix(root)
    return list(parser.issue_types(matrix))


def decide(issue_type: str, root: Path | None = None) -> Decision:
    """Return the decision for ``issue_type``.

    Raises:
        ConfigurationError: ``issue_type`` is not in the matrix; the message lists the known ones.
    """
    parser, matrix = load_matrix(root)
    try:
        row = parser.decide(matrix, issue_type)
    except parser.DecisionMatrixError as exc:
        raise ConfigurationError(str(exc)) from exc
    return Decision(**row)


def decide_all(root: Path | None = None) -> list[Decision]:
    """Return the decision for every issue type, in the order of the matrix."""
    parser, matrix = load_matrix(root)
    return [Decision(**parser.decide(matrix, issue_type)) for issue_type in parser.issue_types(matrix)]


def rollback_command(decision: Decision, inventories: Sequence[str] = ("INVENTORY",)) -> str:
    """Return the ansible-playbook command that runs the decision's procedure on ``inventories``."""
    sources = " ".join(f"-i {shlex.quote(inventory)}" for inventory in inventories)
    command = f"ansible-playbook playbooks/rollback.yml {sources} -e rollback_issue={decision.issue_type}"
    if decision.approval_required:
        role = decision.authority["roles"][0]
        command += f" -e \"rollback_approved_by='NAME'\" -e rollback_approver_role={role}"
    return command
