"""The feature-specific rollback against a drill container whose validation fails.

The tests run in file order on one container: refusals and check mode first
(each leaves the host as it found it), then the rollback, a second run, and a
run that names a feature explicitly.
"""

from __future__ import annotations

import json

import pytest

from drill_host import APP_ROOT, DrillHost, preserved_files

from promptlib_rollback.report import load_report

pytestmark = pytest.mark.integration

DRILL_FAULT = "fails-validation"
PLAYBOOK = "playbooks/rollback-feature.yml"
APPROVAL = {"rollback_approved_by": "Kim Example", "rollback_approver_role": "backend-lead"}
# The failing validator rejects every third call.
VALIDATION_CALLS = 30
TOKEN = f"$(sed -n 's/^ADMIN_TOKEN=//p' {APP_ROOT}/.env)"


def admin_get(host: DrillHost, path: str) -> dict:
    return json.loads(host.sh(f'curl -sS -H "Authorization: Bearer {TOKEN}" http://127.0.0.1:8000{path}').stdout)


def validation_statuses(host: DrillHost) -> list[str]:
    command = (f"for i in $(seq {VALIDATION_CALLS}); do curl -s -o /dev/null -w '%{{http_code}}\\n' "
               "-d '{\"body\": \"Hello {{name}}\"}' http://127.0.0.1:8000/api/templates/validate; done")
    return host.sh(command).stdout.split()


def state(host: DrillHost) -> str:
    env = host.sh(f"grep -E '^TEMPLATE_' {APP_ROOT}/.env; ls -a {APP_ROOT}").stdout
    safe_mode = admin_get(host, "/api/admin/templates/safe-mode")
    modes = json.dumps([safe_mode, admin_get(host, "/api/admin/config")["flags"]])
    return "\n".join([host.fingerprint(), env, modes])


def assert_refused_unchanged(host: DrillHost, expected_in_reason: str, extravars: dict) -> None:
    before = state(host)
    result = host.run(PLAYBOOK, extravars)
    assert result.outcome == "refused", result.error or result.failed_step
    assert expected_in_reason in (result.refused_reason or "")
    assert not [step for step in result.steps if step.changed]
    assert state(host) == before


def test_validation_fails_before_rollback(drill_host):
    statuses = validation_statuses(drill_host)
    assert statuses.count("422") == VALIDATION_CALLS // 3


def test_refused_without_approval(drill_host):
    reason = "needs an approval from one of backend-lead, product-manager, and none was given"
    assert_refused_unchanged(drill_host, reason, {})


def test_refused_with_other_role(drill_host):
    assert_refused_unchanged(drill_host, "approved as database-administrator",
                             {"rollback_approved_by": "Dana", "rollback_approver_role": "database-administrator"})


def test_refused_unknown_role(drill_host):
    assert_refused_unchanged(drill_host, "'dba' is not a known role",
                             {"rollback_approved_by": "Dana", "rollback_approver_role": "dba"})


def test_refused_unknown_feature(drill_host):
    assert_refused_unchanged(drill_host, "promptlib_feature_disable must be",
                             {**APPROVAL, "promptlib_feature_disable": ["validation", "search"]})


def test_check_mode_changes_nothing(drill_host):
    before = state(drill_host)
    result = drill_host.run(PLAYBOOK, APPROVAL, check=True)
    assert result.outcome == "succeeded", result.error or result.failed_step
    assert state(drill_host) == before
    would_change = {step.role for step in result.steps if step.changed}
    assert {"app_env", "safe_mode"} <= would_change


def test_rollback_disables_unhealthy_validation(drill_host):
    result = drill_host.run(PLAYBOOK, APPROVAL)
    assert result.outcome == "succeeded", result.error or result.failed_step
    completed = result.facts["promptlib_rollback_completed"][drill_host.name]
    assert completed["unhealthy_before"] == ["validation"]
    assert completed["disabled"] == ["validation"]
    assert completed["unhealthy"] == []
    assert completed["components"]["validation"]["status"] == "disabled"
    assert completed["safe_mode"] is True
    assert completed["flags"]["TEMPLATE_VALIDATION_ENABLED"] is False
    assert completed["approval"]["role"] == "backend-lead"
    assert result.facts["promptlib_rollback_components"][drill_host.name]["unhealthy"] == []
    logs = preserved_files(drill_host, result)
    assert {"var/log/prompt-library/application.log", "metrics/health.json"} <= logs["before"]
    assert {"var/log/prompt-library/application.log", "metrics/health.json"} <= logs["after"]
    # pm2 restarted the application with the new flags: that is downtime, however short.
    downtime = load_report(result.run_id, drill_host.artifacts)["hosts"][drill_host.name]["downtime"]
    assert downtime["recovered"] is True
    assert downtime["seconds"] > 0


def test_validation_requests_pass(drill_host):
    assert set(validation_statuses(drill_host)) == {"200"}


def test_flags_persisted_where_app_reads_them(drill_host):
    env = drill_host.sh(f"cat {APP_ROOT}/.env").stdout
    assert "TEMPLATE_VALIDATION_ENABLED=false" in env
    copies = drill_host.sh(f"ls {APP_ROOT}/.env.before-feature-rollback-*").stdout.split()
    assert len(copies) == 1
    assert "TEMPLATE_VALIDATION_ENABLED=true" in drill_host.sh(f"cat {copies[0]}").stdout
    assert admin_get(drill_host, "/api/admin/config")["flags"]["TEMPLATE_VALIDATION_ENABLED"] is False


def test_second_run_changes_nothing(drill_host):
    before = state(drill_host)
    result = drill_host.run(PLAYBOOK, APPROVAL)
    assert result.outcome == "succeeded", result.error or result.failed_step
    changed = [f"{step.role}: {step.task}" for step in result.steps if step.changed]
    assert changed == []
    assert state(drill_host) == before
    assert load_report(result.run_id, drill_host.artifacts)["hosts"][drill_host.name]["downtime"] is None


def test_named_feature_disabled(drill_host):
    result = drill_host.run(PLAYBOOK, {**APPROVAL, "promptlib_feature_disable": "cache"})
    assert result.outcome == "succeeded", result.error or result.failed_step
    completed = result.facts["promptlib_rollback_completed"][drill_host.name]
    assert completed["disabled"] == ["cache"]
    assert completed["components"]["cache"]["status"] == "disabled"
    flags = admin_get(drill_host, "/api/admin/config")["flags"]
    assert flags["TEMPLATE_CACHE_ENABLED"] is False
    assert flags["TEMPLATE_VALIDATION_ENABLED"] is False
