"""The database-only rollback against a drill container whose release damaged its data.

The tests run in file order on one container. Refusals and check mode come
first, and each leaves the host as it found it. Then the plain SQL backup is
restored with the swap strategy and run a second time, and a backup with
quoted table names is restored over it. Last, a new deployment with a
custom-format backup is rolled back in place.
"""

from __future__ import annotations

import pytest

from drill_host import APP_ROOT, DrillHost, preserved_files

pytestmark = pytest.mark.integration

DRILL_FAULT = "corrupts-data"
PLAYBOOK = "playbooks/rollback-database.yml"
APPROVAL = {"rollback_approved_by": "Dana Example", "rollback_approver_role": "database-administrator"}
DB = "promptlib_production"
PLAIN_BACKUP = f"{APP_ROOT}/backup-pre-deployment.sql"
CUSTOM_BACKUP = f"{APP_ROOT}/backup-pre-deployment.dump"
ROWS_QUERY = "SELECT id, name, body, category, is_default FROM prompt_templates ORDER BY id"
# Five default templates and the three custom ones created before the backup.
TEMPLATE_ROWS = 8
BACKUP_SCHEMA_VERSION = 3
SCRATCH_DB = "rollback_test_backup_rows"


def psql(host: DrillHost, database: str, query: str) -> str:
    return host.sh(f'runuser -u postgres -- psql -XtA -d {database} -c "{query}"').stdout.strip()


def backup_rows(host: DrillHost, backup: str) -> str:
    """Return the template rows the backup holds, read by restoring it into a scratch database."""
    load = (f"pg_restore --dbname {SCRATCH_DB} {backup}" if backup.endswith(".dump")
            else f"psql -Xq -v ON_ERROR_STOP=1 -d {SCRATCH_DB} -f {backup} -o /dev/null")
    host.sh(f"runuser -u postgres -- dropdb --if-exists {SCRATCH_DB} && runuser -u postgres -- createdb {SCRATCH_DB}"
            f" && runuser -u postgres -- {load}")
    try:
        return psql(host, SCRATCH_DB, ROWS_QUERY)
    finally:
        host.sh(f"runuser -u postgres -- dropdb --if-exists {SCRATCH_DB}")


def failed_databases(host: DrillHost) -> list[str]:
    query = f"SELECT datname FROM pg_database WHERE datname LIKE '{DB}_failed_%' ORDER BY 1"
    return psql(host, "postgres", query).split()


def state(host: DrillHost) -> str:
    extra = host.sh(f"ls /var/backups/prompt-library; grep -c DATABASE_SCHEMA_VERSION {APP_ROOT}/.env || true").stdout
    return host.fingerprint() + extra


def assert_refused_unchanged(host: DrillHost, expected_in_reason: str, extravars: dict,
                             playbook: str = PLAYBOOK) -> None:
    before = state(host)
    result = host.run(playbook, extravars)
    assert result.outcome == "refused", result.error or result.failed_step
    assert expected_in_reason in (result.refused_reason or "")
    # The full rollback's preflight reports its check-mode release check as a
    # change when the code would switch. So only the database playbook must have
    # no changed step, and the host state is compared for both.
    if playbook == PLAYBOOK:
        assert not [step for step in result.steps if step.changed]
    assert state(host) == before


@pytest.fixture
def tampered_backup(drill_host):
    """Append a comment to the plain backup: still valid SQL, but not the file the manifest pairs."""
    drill_host.sh(f"cp -a {PLAIN_BACKUP} /root/backup.aside && echo '-- edited after the release' >> {PLAIN_BACKUP}")
    yield
    drill_host.sh(f"cp -a /root/backup.aside {PLAIN_BACKUP}")


def test_release_damaged_the_data(drill_host):
    assert psql(drill_host, DB, "SELECT count(*) FROM prompt_templates WHERE body = ''") != "0"
    assert int(psql(drill_host, DB, "SELECT count(*) FROM prompt_templates")) < TEMPLATE_ROWS


def test_refused_without_approval(drill_host):
    assert_refused_unchanged(drill_host, "needs an approval from database-administrator, and none was given", {})


def test_refused_with_other_role(drill_host):
    assert_refused_unchanged(drill_host, "but Lee approved as devops-lead",
                             {"rollback_approved_by": "Lee", "rollback_approver_role": "devops-lead"})


def test_refused_mismatched_backup(drill_host, tampered_backup):
    assert_refused_unchanged(drill_host, "does not belong with release prompt-library-1.4.0", APPROVAL)


def test_full_rollback_refuses_mismatched_backup(drill_host, tampered_backup):
    assert_refused_unchanged(drill_host, "promptlib_force_mismatched_backup", {"promptlib_restore_database": True},
                             playbook="playbooks/rollback-full.yml")


def test_forced_mismatched_backup_accepted_in_check_mode(drill_host, tampered_backup):
    before = state(drill_host)
    result = drill_host.run(PLAYBOOK, {**APPROVAL, "promptlib_force_mismatched_backup": True}, check=True)
    assert result.outcome == "succeeded", result.error or result.failed_step
    assert state(drill_host) == before


def test_refused_unknown_strategy(drill_host):
    assert_refused_unchanged(drill_host, "swap", {**APPROVAL, "promptlib_database_restore_strategy": "drop"})


def test_check_mode_changes_nothing(drill_host):
    before = state(drill_host)
    result = drill_host.run(PLAYBOOK, APPROVAL, check=True)
    assert result.outcome == "succeeded", result.error or result.failed_step
    assert state(drill_host) == before
    would_change = {step.role for step in result.steps if step.changed}
    assert {"stop_services", "restore_database", "app_env"} <= would_change


def test_swap_restores_every_backup_row(drill_host):
    expected = backup_rows(drill_host, PLAIN_BACKUP)
    result = drill_host.run(PLAYBOOK, APPROVAL)
    assert result.outcome == "succeeded", result.error or result.failed_step
    assert psql(drill_host, DB, ROWS_QUERY) == expected
    assert psql(drill_host, DB, "SELECT count(*) FROM prompt_templates") == str(TEMPLATE_ROWS)
    completed = result.facts["promptlib_rollback_completed"][drill_host.name]
    assert completed["tables"]["public.prompt_templates"] == TEMPLATE_ROWS
    assert completed["went_live"]["schema_version"] == BACKUP_SCHEMA_VERSION
    assert completed["went_live"]["backup"]["path"] == PLAIN_BACKUP
    assert completed["went_live"]["backup"]["matches_manifest"] is True
    sha256 = drill_host.sh(f"sha256sum {PLAIN_BACKUP}").stdout.split()[0]
    assert completed["went_live"]["backup"]["sha256"] == sha256
    assert completed["approval"]["by"] == "Dana Example"
    logs = preserved_files(drill_host, result)
    assert {"var/log/prompt-library/application.log", "metrics/health.json"} <= logs["before"]
    assert {"var/log/prompt-library/application.log", "metrics/health.json"} <= logs["after"]


def test_failed_database_and_dump_kept(drill_host):
    kept = failed_databases(drill_host)
    assert len(kept) == 1
    assert psql(drill_host, kept[0], "SELECT count(*) FROM prompt_templates WHERE body <> ''") == "0"
    dumps = drill_host.sh("ls /var/backups/prompt-library/failed-state-*.dump").stdout.split()
    assert len(dumps) == 1
    assert "prompt_templates" in drill_host.sh(f"runuser -u postgres -- pg_restore --list {dumps[0]}").stdout


def test_app_runs_at_backup_schema(drill_host):
    assert f"DATABASE_SCHEMA_VERSION={BACKUP_SCHEMA_VERSION}" in drill_host.sh(f"cat {APP_ROOT}/.env").stdout
    assert drill_host.health(port=80)["status"] == "ok"
    assert psql(drill_host, DB, "SELECT string_agg(version::text, ',') FROM schema_migrations") == "3"


def test_second_run_changes_nothing(drill_host):
    before = state(drill_host)
    result = drill_host.run(PLAYBOOK, APPROVAL)
    assert result.outcome == "succeeded", result.error or result.failed_step
    changed = [f"{step.role}: {step.task}" for step in result.steps if step.changed]
    assert changed == []
    assert state(drill_host) == before


# A table whose name pg_dump quotes (a space and capitals) and a table in a schema other than public.
QUOTED_TABLES_SQL = """
CREATE SCHEMA audit;
CREATE TABLE public."Mixed Case" (id integer, "Full Name" text);
CREATE TABLE audit.events (id integer, at text);
COPY public."Mixed Case" (id, "Full Name") FROM stdin;
1\tAda Lovelace
2\tGrace Hopper
\\.
COPY audit.events (id, at) FROM stdin;
1\t2026-01-01
\\.
"""


@pytest.fixture
def backup_with_quoted_tables(drill_host):
    """Append tables with quoted names to the plain backup, so it no longer matches the manifest."""
    drill_host.sh(f"cp -a {PLAIN_BACKUP} /root/backup.aside && cat >> {PLAIN_BACKUP} <<'SQL'\n{QUOTED_TABLES_SQL}SQL")
    yield
    drill_host.sh(f"cp -a /root/backup.aside {PLAIN_BACKUP}")


def test_quoted_table_names_verified(drill_host, backup_with_quoted_tables):
    result = drill_host.run(PLAYBOOK, {**APPROVAL, "promptlib_force_mismatched_backup": True})
    assert result.outcome == "succeeded", result.error or result.failed_step
    completed = result.facts["promptlib_rollback_completed"][drill_host.name]
    assert completed["tables"]['public."Mixed Case"'] == 2
    assert completed["tables"]["audit.events"] == 1
    assert completed["tables"]["public.prompt_templates"] == TEMPLATE_ROWS
    assert psql(drill_host, DB, "SELECT count(*) FROM audit.events") == "1"


def test_custom_backup_restored_in_place(drill_host):
    # A new bad deployment, this time with a custom-format pre-deployment backup.
    drill_host.sh("pm2 delete all >/dev/null 2>&1 || true")
    databases = f"SELECT datname FROM pg_database WHERE datname LIKE '{DB}%'"
    drill_host.sh(f'for db in $(runuser -u postgres -- psql -XtAc "{databases}"); do'
                  ' runuser -u postgres -- dropdb "$db"; done; rm -f /var/backups/prompt-library/*')
    setup = drill_host.run("playbooks/drill-setup.yml", {"drill_target_fault": DRILL_FAULT,
                                                         "drill_target_backup_format": "custom"})
    assert setup.outcome == "succeeded", setup.error or setup.failed_step
    assert drill_host.sh(f"head -c 5 {CUSTOM_BACKUP}").stdout == "PGDMP"
    expected = backup_rows(drill_host, CUSTOM_BACKUP)

    result = drill_host.run(PLAYBOOK, {**APPROVAL, "promptlib_database_restore_strategy": "in_place"})
    assert result.outcome == "succeeded", result.error or result.failed_step
    assert psql(drill_host, DB, ROWS_QUERY) == expected
    assert psql(drill_host, DB, "SELECT count(*) FROM prompt_templates") == str(TEMPLATE_ROWS)
    completed = result.facts["promptlib_rollback_completed"][drill_host.name]
    assert completed["went_live"]["backup"]["format"] == "custom"
    assert completed["plan"]["strategy"] == "in_place"
    # In place keeps no failed database, only the verified dump of the failed state.
    assert failed_databases(drill_host) == []
    assert len(drill_host.sh("ls /var/backups/prompt-library/failed-state-*.dump").stdout.split()) == 1

    again = drill_host.run(PLAYBOOK, {**APPROVAL, "promptlib_database_restore_strategy": "in_place"})
    assert again.outcome == "succeeded", again.error or again.failed_step
    assert [step.task for step in again.steps if step.changed] == []
