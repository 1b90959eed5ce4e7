"""The immediate full rollback against a drill container with a release that will not start.

The tests run in file order on one container: refusals first (each puts the
host back as it found it), then check mode, the rollback, and a second run.
"""

from __future__ import annotations

import pytest

from drill_host import APP_ROOT, NGINX_SITE, DrillHost

pytestmark = pytest.mark.integration

PLAYBOOK = "playbooks/rollback-full.yml"


def assert_refused_unchanged(host: DrillHost, expected_in_reason: str) -> None:
    before = host.fingerprint()
    result = host.run(PLAYBOOK)
    assert result.outcome == "refused", result.error or result.failed_step
    assert expected_in_reason in (result.refused_reason or "")
    assert host.fingerprint() == before
    assert not [step for step in result.steps if step.changed]


def test_missing_previous_release_refused(drill_host):
    drill_host.sh(f"mv {APP_ROOT}/previous-stable {APP_ROOT}/previous-stable.aside")
    try:
        assert_refused_unchanged(drill_host, "previous-stable")
    finally:
        drill_host.sh(f"mv {APP_ROOT}/previous-stable.aside {APP_ROOT}/previous-stable")


def test_empty_previous_release_refused(drill_host):
    drill_host.sh(f"mv {APP_ROOT}/previous-stable {APP_ROOT}/previous-stable.aside && mkdir {APP_ROOT}/previous-stable")
    try:
        assert_refused_unchanged(drill_host, "previous-stable")
    finally:
        drill_host.sh(f"rmdir {APP_ROOT}/previous-stable"
                      f" && mv {APP_ROOT}/previous-stable.aside {APP_ROOT}/previous-stable")


def test_truncated_backup_refused(drill_host):
    backup = f"{APP_ROOT}/backup-pre-deployment.sql"
    drill_host.sh(f"cp -a {backup} /root/backup.aside && truncate -s $(( $(stat -c %s {backup}) / 2 )) {backup}")
    try:
        assert_refused_unchanged(drill_host, "backup-pre-deployment.sql")
    finally:
        drill_host.sh(f"cp -a /root/backup.aside {backup}")


def test_missing_backup_refused(drill_host):
    backup = f"{APP_ROOT}/backup-pre-deployment.sql"
    drill_host.sh(f"mv {backup} /root/backup.aside")
    try:
        assert_refused_unchanged(drill_host, "backup-pre-deployment.sql")
    finally:
        drill_host.sh(f"mv /root/backup.aside {backup}")


def test_previous_site_failing_nginx_test_refused(drill_host):
    previous = f"{NGINX_SITE}.previous"
    drill_host.sh(f"cp -a {previous} /root/site.aside && echo 'this_is_not_a_directive on;' >> {previous}")
    try:
        assert_refused_unchanged(drill_host, "nginx -t")
    finally:
        drill_host.sh(f"cp -a /root/site.aside {previous}")


def test_check_mode_changes_nothing(drill_host):
    before = drill_host.fingerprint()
    result = drill_host.run(PLAYBOOK, check=True)
    assert result.outcome == "succeeded", result.error or result.failed_step
    assert drill_host.fingerprint() == before
    would_change = {step.role for step in result.steps if step.changed}
    assert "restore_code" in would_change
    assert "restore_config" in would_change


def test_rollback_restores_previous_release(drill_host):
    assert drill_host.health(port=8000) == {}
    result = drill_host.run(PLAYBOOK)
    assert result.outcome == "succeeded", result.error or result.failed_step
    assert drill_host.health(port=80)["version"] == "1.4.0"
    assert drill_host.health(port=8000)["version"] == "1.4.0"
    kept = drill_host.sh(f"ls -d {APP_ROOT}/current-failed-*").stdout.split()
    assert len(kept) == 1
    assert '"wont-start"' in drill_host.sh(f"cat {kept[0]}/release.json").stdout
    assert all(step.host == drill_host.name for step in result.steps)
    assert result.duration_seconds > 0


def test_second_run_changes_nothing(drill_host):
    before = drill_host.fingerprint()
    result = drill_host.run(PLAYBOOK)
    assert result.outcome == "succeeded", result.error or result.failed_step
    changed = [f"{step.role}: {step.task}" for step in result.steps if step.changed]
    assert changed == []
    assert drill_host.fingerprint() == before
