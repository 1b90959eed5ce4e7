"""The immediate full rollback against a drill container with a release that will not start.

The tests run in file order on one container: refusals first (each puts the
host back as it found it), then the rollback and a second run. Check mode and
the other refusals, each with a fingerprint of the host, are in test_bad_input.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from drill_host import APP_ROOT, DrillHost

pytestmark = pytest.mark.integration

PLAYBOOK = "playbooks/rollback-full.yml"


def assert_refused_unchanged(host: DrillHost, expected_in_reason: str, extravars: dict | None = None) -> None:
    before = host.fingerprint()
    result = host.run(PLAYBOOK, extravars)
    assert result.outcome == "refused", result.error or result.failed_step
    assert expected_in_reason in (result.refused_reason or "")
    assert host.fingerprint() == before
    assert not [step for step in result.steps if step.changed]


@contextlib.contextmanager
def put_back_afterwards(host: DrillHost, path: str) -> Iterator[str]:
    """Keep a copy of ``path`` and put it back after the block, whatever the block did to it."""
    host.sh(f"rm -rf /root/aside && cp -a {path} /root/aside")
    try:
        yield path
    finally:
        host.sh(f"rm -rf {path} && cp -a /root/aside {path}")


def test_missing_dependency_refused(drill_host):
    with put_back_afterwards(drill_host, f"{APP_ROOT}/previous-stable") as previous:
        drill_host.sh(f"rm -rf {previous}/node_modules/pg")
        assert_refused_unchanged(drill_host, "node_modules/pg is missing")


def test_missing_indirect_dependency_refused(drill_host):
    # pg needs pg-pool, and only package-lock.json names it.
    with put_back_afterwards(drill_host, f"{APP_ROOT}/previous-stable") as previous:
        drill_host.sh(f"rm -rf {previous}/node_modules/pg-pool")
        assert_refused_unchanged(drill_host, "node_modules/pg-pool is missing")


def test_previous_env_without_token_refused(drill_host):
    with put_back_afterwards(drill_host, f"{APP_ROOT}/.env.previous") as previous:
        drill_host.sh(f"sed -i '/^ADMIN_TOKEN=/d' {previous}")
        assert_refused_unchanged(drill_host, f"{previous} sets no ADMIN_TOKEN")


def test_backup_damaged_mid_file_refused(drill_host):
    # Header and trailer stay intact, so only a restore finds the damage. The
    # release manifest's checksum rejects this backup first. With that check
    # overridden, the restore into the shadow database must reject it before
    # anything stops.
    with put_back_afterwards(drill_host, f"{APP_ROOT}/backup-pre-deployment.sql") as backup:
        drill_host.sh(f"printf 'COPY broken FROM stdin;\\n1\\tx\\n' |"
                      f" dd of={backup} bs=1 seek=$(( $(stat -c %s {backup}) / 2 )) conv=notrunc status=none")
        assert_refused_unchanged(drill_host, "belongs with the release", {"promptlib_restore_database": True})
        assert_refused_unchanged(drill_host, "The live database promptlib_production was not changed",
                                 {"promptlib_restore_database": True, "promptlib_force_mismatched_backup": True})


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


def test_database_restore_runs_once(drill_host):
    restore = {"promptlib_restore_database": True}
    result = drill_host.run(PLAYBOOK, restore)
    assert result.outcome == "succeeded", result.error or result.failed_step
    staged = [step for step in result.steps if step.changed and "shadow database" in step.task]
    assert staged, "the backup was not restored into the shadow database before the services stopped"
    kept_artifacts = result.facts["promptlib_rollback_completed"][drill_host.name]["kept"]
    assert kept_artifacts["failed_database"].startswith("promptlib_production_failed_")
    assert drill_host.health(port=80)["version"] == "1.4.0"

    before = drill_host.fingerprint()
    again = drill_host.run(PLAYBOOK, restore)
    assert again.outcome == "succeeded", again.error or again.failed_step
    assert [f"{step.role}: {step.task}" for step in again.steps if step.changed] == []
    assert drill_host.fingerprint() == before
