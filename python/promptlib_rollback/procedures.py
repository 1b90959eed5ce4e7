"""Map procedure names to the playbooks that carry them out.

Add a procedure by adding its playbook here: the CLI and
:func:`promptlib_rollback.runner.run_procedure` read this table.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from .errors import ConfigurationError

# Playbook paths are relative to the collection root.
PROCEDURES = MappingProxyType(
    {
        "full": "playbooks/rollback-full.yml",
        "gradual": "playbooks/rollback-gradual.yml",
        "feature": "playbooks/rollback-feature.yml",
        "database": "playbooks/rollback-database.yml",
        "partial": "playbooks/rollback-partial.yml",
        "service-restart": "playbooks/rollback-service-restart.yml",
        "hotfix": "playbooks/rollback-hotfix.yml",
        # The procedure the decision matrix names for -e rollback_issue=TYPE.
        "matrix": "playbooks/rollback.yml",
        "validate": "playbooks/validate.yml",
    }
)


def procedure_playbook(name: str, root: Path) -> Path:
    """Return the absolute path of the playbook for procedure ``name``."""
    try:
        relative = PROCEDURES[name]
    except KeyError:
        known = ", ".join(sorted(PROCEDURES))
        raise ConfigurationError(f"Unknown procedure {name!r}: choose one of {known}.") from None
    return root / relative
