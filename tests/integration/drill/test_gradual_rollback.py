"""The gradual rollback against a drill container with a slow release.

The tests run in file order on one container. Refusals and check mode come
first, and each leaves the host as it found it. Then a run halts because
PostgreSQL is stopped during a stage, a resumed run halts at a gate that
cannot hold, the next resumed run completes, and a second run changes nothing.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from drill_host import APP_ROOT, DrillHost, preserved_files

pytestmark = pytest.mark.integration

DRILL_FAULT = "slow"
PLAYBOOK = "playbooks/rollback-gradual.yml"
APPROVAL = {"rollback_approved_by": "Pat Example", "rollback_approver_role": "product-manager"}
# Seconds, not the production defaults, so the drill stays short.
FAST = {"promptlib_monitor_seconds": 2, "promptlib_reenable_wait_seconds": 2}
JOURNAL = "/var/lib/promptlib-rollback/gradual-prompt-library-1.5.0.json"
# The slow release delays every response by 1.5 s while custom templates exist.
SLOW_SECONDS = 1.5
EXPORTED_TEMPLATES = 8
DEFAULT_TEMPLATES = 5
# Long enough for the test to stop PostgreSQL while the stage waits.
HALT_WAIT_SECONDS = 40
# Read the token inside the container, so it never appears in a command line here.
TOKEN = f"$(sed -n 's/^ADMIN_TOKEN=//p' {APP_ROOT}/.env)"


def run_gradual(host: DrillHost, check: bool = False, **extra):
    extravars = {**APPROVAL, **FAST, "promptlib_export_dir": str(host.artifacts / "exports"), **extra}
    return host.run(PLAYBOOK, extravars, check=check)


def admin_get(host: DrillHost, path: str) -> dict:
    return json.loads(host.sh(f'curl -fsS -H "Authorization: Bearer {TOKEN}" http://127.0.0.1:8000{path}').stdout)


def env_flags(host: DrillHost) -> dict[str, str]:
    lines = host.sh(f"grep -E '^TEMPLATE_[A-Z]+_ENABLED=' {APP_ROOT}/.env").stdout.split()
    return dict(line.split("=", 1) for line in lines)


def state(host: DrillHost) -> str:
    """Return everything the gradual rollback could change, for before/after comparisons."""
    journal = host.sh(f"cat {JOURNAL} 2>/dev/null || echo no journal", check=False).stdout
    modes = json.dumps([admin_get(host, "/api/admin/maintenance"), admin_get(host, "/api/admin/templates/safe-mode")])
    return "\n".join([host.fingerprint(), journal, modes, json.dumps(env_flags(host), sort_keys=True)])


def response_seconds(host: DrillHost) -> float:
    return float(host.sh("curl -o /dev/null -fsS -w '%{time_total}' http://127.0.0.1:8000/health").stdout)


def assert_refused_unchanged(host: DrillHost, expected_in_reason: str, **extra) -> None:
    before = state(host)
    result = host.run(PLAYBOOK, {**FAST, **extra})
    assert result.outcome == "refused", result.error or result.failed_step
    assert expected_in_reason in (result.refused_reason or "")
    assert not [step for step in result.steps if step.changed]
    assert state(host) == before


def test_release_slow_before_rollback(drill_host):
    assert response_seconds(drill_host) >= SLOW_SECONDS


def test_refused_without_approval(drill_host):
    assert_refused_unchanged(drill_host, "needs an approval from product-manager, and none was given")


def test_refused_with_other_role(drill_host):
    assert_refused_unchanged(drill_host, "but Kim approved as backend-lead",
                             rollback_approved_by="Kim", rollback_approver_role="backend-lead")


def test_refused_misspelt_stage_flag(drill_host):
    stages = [{"name": "viewing", "flags": {"viewng": True}}]
    assert_refused_unchanged(drill_host, "(unknown: viewng)", **APPROVAL, promptlib_reenable_stages=stages)


def test_refused_stage_without_flags(drill_host):
    stages = [{"name": "viewing"}]
    assert_refused_unchanged(drill_host, "each with a unique name and a flags dict", **APPROVAL,
                             promptlib_reenable_stages=stages)


def test_refused_misspelt_disable_flag(drill_host):
    assert_refused_unchanged(drill_host, "(unknown: creaton)", **APPROVAL,
                             promptlib_gradual_disable={"creaton": False})


def test_check_mode_changes_nothing(drill_host):
    before = state(drill_host)
    result = run_gradual(drill_host, check=True)
    assert result.outcome == "succeeded", result.error or result.failed_step
    assert state(drill_host) == before
    would_change = {step.role for step in result.steps if step.changed}
    assert {"maintenance", "app_env", "template_export"} <= would_change


def test_gate_halts_when_database_stops(drill_host):
    """Stop PostgreSQL while the creation stage waits: the run halts before creation."""
    stopped = threading.Event()

    def stop_database_after_viewing() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            journal = drill_host.sh(f"cat {JOURNAL} 2>/dev/null", check=False).stdout
            if '"stage:viewing"' in journal:
                drill_host.sh("systemctl stop postgresql")
                stopped.set()
                return
            time.sleep(1)

    watcher = threading.Thread(target=stop_database_after_viewing, daemon=True)
    watcher.start()
    try:
        result = run_gradual(drill_host, promptlib_reenable_wait_seconds=HALT_WAIT_SECONDS)
    finally:
        watcher.join(timeout=5)
        drill_host.sh("systemctl start postgresql")
    assert stopped.is_set()
    assert result.outcome == "failed"
    halted = result.facts["promptlib_rollback_halted"][drill_host.name]
    assert halted["stage"] == "creation"
    assert "application health" in halted["failed_signals"]
    assert halted["stages_in_force"] == ["viewing"]
    flags = env_flags(drill_host)
    assert flags["TEMPLATE_CREATION_ENABLED"] == "false"
    assert flags["TEMPLATE_EDITING_ENABLED"] == "false"
    journal = json.loads(drill_host.sh(f"cat {JOURNAL}").stdout)
    assert journal["halted"]["stage"] == "creation"
    assert journal["completed"] is False


def test_defaults_restored_before_halt(drill_host):
    templates = admin_get(drill_host, "/api/admin/templates")["templates"]
    assert len(templates) == DEFAULT_TEMPLATES
    assert response_seconds(drill_host) < 1.0
    assert admin_get(drill_host, "/api/admin/maintenance")["enabled"] is False


def test_impossible_gate_halts_resumed_run(drill_host):
    stages = [
        {"name": "viewing", "flags": {"viewing": True}},
        {"name": "creation", "flags": {"creation": True}, "gate": {"max_response_seconds": 0.000001}},
        {"name": "editing", "flags": {"editing": True}},
    ]
    result = run_gradual(drill_host, promptlib_reenable_stages=stages)
    assert result.outcome == "failed"
    halted = result.facts["promptlib_rollback_halted"][drill_host.name]
    assert halted["stage"] == "creation"
    assert halted["failed_signals"] == ["response time"]
    assert env_flags(drill_host)["TEMPLATE_CREATION_ENABLED"] == "false"
    assert admin_get(drill_host, "/api/admin/config")["flags"]["TEMPLATE_CREATION_ENABLED"] is False
    # The earlier steps are not repeated: the export and reset ran once.
    assert not [step for step in result.steps if step.role in ("template_export", "maintenance") and step.changed]


def test_resumed_run_completes(drill_host):
    result = run_gradual(drill_host)
    assert result.outcome == "succeeded", result.error or result.failed_step
    completed = result.facts["promptlib_rollback_completed"][drill_host.name]
    assert completed["stages"] == ["viewing", "creation", "editing"]
    assert completed["went_live"]["release_id"] == "prompt-library-1.5.0"
    export = completed["export"]
    assert export["count"] == EXPORTED_TEMPLATES
    assert export["removed"] == EXPORTED_TEMPLATES - DEFAULT_TEMPLATES
    copy = drill_host.artifacts / "exports" / drill_host.name / export["controller_path"].rsplit("/", 1)[1]
    assert json.loads(copy.read_text())["count"] == EXPORTED_TEMPLATES
    assert set(env_flags(drill_host).values()) == {"true"}
    assert set(admin_get(drill_host, "/api/admin/config")["flags"].values()) == {True}
    assert admin_get(drill_host, "/api/admin/maintenance")["enabled"] is False
    copies = drill_host.sh(f"ls {APP_ROOT}/.env.before-gradual-rollback-*").stdout.split()
    assert len(copies) == 1
    logs = preserved_files(drill_host, result)
    assert {"var/log/prompt-library/application.log", "metrics/health.json"} <= logs["before"]
    assert {"var/log/prompt-library/application.log", "metrics/health.json"} <= logs["after"]


def test_second_run_changes_nothing(drill_host):
    before = state(drill_host)
    result = run_gradual(drill_host)
    assert result.outcome == "succeeded", result.error or result.failed_step
    changed = [f"{step.role}: {step.task}" for step in result.steps if step.changed]
    assert changed == []
    assert state(drill_host) == before
