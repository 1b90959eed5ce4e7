"""The decision matrix through the Python package."""

from __future__ import annotations

import pytest

from promptlib_rollback import decision
from promptlib_rollback.errors import ConfigurationError


def test_every_issue_type_decided():
    decisions = decision.decide_all()
    assert [item.issue_type for item in decisions] == decision.issue_types()
    assert len(decisions) == 7


def test_decide_returns_dataclass():
    result = decision.decide("security-vulnerability")
    assert result.rollback_type == "Immediate Partial"
    assert result.playbook == "playbooks/rollback-partial.yml"
    assert result.playbook_present is True
    assert result.approval_required is False


def test_unknown_issue_type_is_configuration_error():
    with pytest.raises(ConfigurationError) as raised:
        decision.decide("disk-full")
    assert "application-wont-start" in str(raised.value)


def test_command_includes_approval():
    command = decision.rollback_command(decision.decide("performance-degradation"))
    assert "-e rollback_issue=performance-degradation" in command
    assert "rollback_approver_role=product-manager" in command


def test_command_without_approval():
    command = decision.rollback_command(decision.decide("cache-failures"))
    assert command == "ansible-playbook playbooks/rollback.yml -i INVENTORY -e rollback_issue=cache-failures"


def test_missing_parser_reported(tmp_path):
    with pytest.raises(ConfigurationError) as raised:
        decision.load_matrix(tmp_path)
    assert "decision.py" in str(raised.value)


def test_command_names_each_inventory():
    command = decision.rollback_command(decision.decide("cache-failures"), ["prod/hosts.yml", "my hosts.yml"])
    assert " -i prod/hosts.yml -i 'my hosts.yml' -e rollback_issue=cache-failures" in command
