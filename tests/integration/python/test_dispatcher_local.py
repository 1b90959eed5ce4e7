"""playbooks/rollback.yml against localhost: which procedure each issue type runs, and refusals.

The procedures themselves are not run here (they need a drill container); the
imported plays are listed with ansible-playbook --list-tasks, and refusals stop
before any procedure starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from promptlib_rollback import run_playbook
from promptlib_rollback.decision import decide, issue_types
from promptlib_rollback.paths import find_collection_root
from promptlib_rollback.runner import build_envvars

LOCAL_INVENTORY = {
    "all": {
        "children": {
            "prompt_library": {
                "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}
            }
        }
    }
}

ROOT = find_collection_root()


def first_play_name(playbook: Path) -> str:
    """Return the name of the first play of a playbook, following import_playbook."""
    entry = yaml.safe_load(playbook.read_text(encoding="utf-8"))[0]
    imported = entry.get("ansible.builtin.import_playbook") or entry.get("import_playbook")
    if imported:
        return first_play_name(playbook.parent / imported)
    return entry["name"]


def listed_plays(issue_type: str) -> list[str]:
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "--list-tasks", "-i", "localhost,",
         "-e", f"rollback_issue={issue_type}", str(ROOT / "playbooks/rollback.yml")],
        env={**os.environ, **build_envvars(ROOT)}, capture_output=True, text=True, check=True,
    )
    return [line.split(": ", 1)[1].split("\t")[0] for line in completed.stdout.splitlines() if "play #" in line]


@pytest.mark.parametrize("issue_type", issue_types())
def test_issue_type_imports_its_procedure(issue_type):
    decision = decide(issue_type)
    playbook = ROOT / decision.playbook if decision.playbook_present else ROOT / "playbooks/rollback-unavailable.yml"
    plays = listed_plays(issue_type)
    assert plays[0] == "Decide the rollback procedure from the decision matrix"
    assert plays[1] == first_play_name(playbook)


def run_dispatcher(tmp_path, extravars):
    return run_playbook("playbooks/rollback.yml", LOCAL_INVENTORY, extravars, artifacts_root=tmp_path)


@pytest.mark.parametrize("issue_type, role", [
    ("performance-degradation", "product-manager"),
    ("template-validation-failures", "backend-lead"),
])
def test_missing_approval_refused(tmp_path, issue_type, role):
    result = run_dispatcher(tmp_path, {"rollback_issue": issue_type})
    assert result.outcome == "refused"
    assert "none was given" in result.refused_reason
    assert f"rollback_approver_role={role}" in result.refused_reason
    assert not [step for step in result.steps if step.changed]


def test_wrong_role_refused(tmp_path):
    result = run_dispatcher(tmp_path, {"rollback_issue": "performance-degradation",
                                       "rollback_approved_by": "Sam Doe", "rollback_approver_role": "backend-lead"})
    assert result.outcome == "refused"
    assert "Sam Doe approved as backend-lead" in result.refused_reason


@pytest.mark.parametrize("name", ["-", "''", " 42 "])
def test_placeholder_approver_refused(tmp_path, name):
    result = run_dispatcher(tmp_path, {"rollback_issue": "performance-degradation",
                                       "rollback_approved_by": name, "rollback_approver_role": "product-manager"})
    assert result.outcome == "refused"
    assert "no approver name was given" in result.refused_reason


def test_approval_for_immediate_checked(tmp_path):
    result = run_dispatcher(tmp_path, {"rollback_issue": "minor-ui-issues", "rollback_approved_by": "Pat Kim",
                                       "rollback_approver_role": "product-manager"})
    assert result.outcome == "refused"
    assert "one of devops-lead, backend-lead, on-call-engineer" in result.refused_reason


def test_recorded_approval_in_decision(tmp_path):
    result = run_dispatcher(tmp_path, {"rollback_issue": "minor-ui-issues", "rollback_approved_by": "Pat Kim",
                                       "rollback_approver_role": "on-call-engineer"})
    assert result.outcome == "succeeded", result.error
    approval = result.facts["promptlib_rollback_decision"]["localhost"]["approval"]
    assert approval["by"] == "Pat Kim"
    assert approval["role"] == "on-call-engineer"
    assert approval["procedure"] == "hotfix rollback"
    assert approval["at"].endswith("Z")


@pytest.mark.parametrize("extravars, expected", [
    ({}, "No issue type was given"),
    ({"rollback_issue": "disk-full"}, "'disk-full' is not an issue type"),
])
def test_bad_issue_type_refused(tmp_path, extravars, expected):
    result = run_dispatcher(tmp_path, extravars)
    assert result.outcome == "refused"
    assert expected in result.refused_reason
