"""Run the diagnose playbook and name the issue type that the hosts' signals point to."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .decision import issue_types
from .results import RunResult
from .runner import InventoryArg, run_playbook

logger = logging.getLogger(__name__)

DIAGNOSE_PLAYBOOK = "playbooks/diagnose.yml"
DIAGNOSIS_KEY = "promptlib_rollback_diagnosis"


@dataclass
class Diagnosis:
    """The diagnosis of every host and the issue type of the whole run.

    ``issue_type`` is the most severe issue type found on any host (the matrix
    lists issue types most severe first), or None when no signal crossed its limit.
    ``hosts`` maps each host to what the diagnose role published for it:
    issue_type, findings (with evidence), measurements, not_detectable and signals.
    """

    run: RunResult
    issue_type: str | None
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def evidence(self) -> dict[str, list[str]]:
        """Return the evidence for ``issue_type`` on each host that shows it."""
        found: dict[str, list[str]] = {}
        for host, result in self.hosts.items():
            for finding in result.get("findings") or []:
                if finding.get("issue_type") == self.issue_type:
                    found[host] = list(finding.get("evidence") or [])
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "issue_type": self.issue_type,
            "evidence": self.evidence,
            "hosts": self.hosts,
            "outcome": self.run.outcome,
            "run_id": self.run.run_id,
            "artifacts_dir": self.run.artifacts_dir,
            "error": self.run.error,
        }


def most_severe(host_results: Mapping[str, Mapping[str, Any]], order: list[str]) -> str | None:
    """Return the issue type found on any host that comes first in ``order``."""
    found = {str(result.get("issue_type")) for result in host_results.values() if result.get("issue_type")}
    for issue_type in order:
        if issue_type in found:
            return issue_type
    return None


def diagnose(
    inventory: InventoryArg,
    extravars: Mapping[str, Any] | None = None,
    *,
    record_baseline: bool = False,
    **options: Any,
) -> Diagnosis:
    """Run playbooks/diagnose.yml against ``inventory`` and return the Diagnosis.

    ``record_baseline`` also records the measured response time as the baseline on
    each healthy host. ``options`` are the keyword arguments of :func:`run_playbook`.
    """
    variables = dict(extravars or {})
    if record_baseline:
        variables["diagnose_record_baseline"] = True
    run = run_playbook(DIAGNOSE_PLAYBOOK, inventory, variables, procedure="diagnose", **options)
    hosts = dict(run.facts.get(DIAGNOSIS_KEY) or {})
    issue_type = most_severe(hosts, issue_types()) if hosts else None
    logger.info("Diagnosis %s: %s", run.run_id, issue_type or "no issue found")
    return Diagnosis(run=run, issue_type=issue_type, hosts=hosts)
