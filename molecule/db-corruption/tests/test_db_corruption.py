"""End state of the db-corruption drill after the database-only rollback.

Runs on the drill container through molecule's testinfra verifier.
"""

import json

APP_ROOT = "/opt/prompt-library"
BACKUP = f"{APP_ROOT}/backup-pre-deployment.sql"
DB = "promptlib_production"
ROWS_QUERY = "SELECT id, name, body, category, is_default FROM prompt_templates ORDER BY id"
# Five default templates and the three custom ones created before the backup.
TEMPLATE_ROWS = 8
BACKUP_SCHEMA_VERSION = 3
TOKEN = f"$(sed -n 's/^ADMIN_TOKEN=//p' {APP_ROOT}/.env)"


def psql(host, database, query):
    return host.check_output(f"runuser -u postgres -- psql -XtA -d {database} -c \"{query}\"")


def test_row_set_equals_backup(host):
    scratch = "drill_backup_check"
    host.run(f"runuser -u postgres -- dropdb --if-exists {scratch}")
    host.check_output(f"runuser -u postgres -- createdb {scratch}")
    try:
        host.check_output(f"runuser -u postgres -- psql -Xq -v ON_ERROR_STOP=1 -d {scratch} -f {BACKUP} -o /dev/null")
        expected = psql(host, scratch, ROWS_QUERY)
    finally:
        host.run(f"runuser -u postgres -- dropdb --if-exists {scratch}")
    assert psql(host, DB, ROWS_QUERY) == expected
    assert psql(host, DB, "SELECT count(*) FROM prompt_templates") == str(TEMPLATE_ROWS)


def test_no_blank_bodies(host):
    assert psql(host, DB, "SELECT count(*) FROM prompt_templates WHERE body = ''") == "0"


def test_failed_database_kept_with_damage(host):
    names = psql(host, "postgres", f"SELECT datname FROM pg_database WHERE datname LIKE '{DB}_failed_%'").split()
    assert len(names) == 1
    assert int(psql(host, names[0], "SELECT count(*) FROM prompt_templates")) < TEMPLATE_ROWS
    assert psql(host, names[0], "SELECT count(*) FROM prompt_templates WHERE body <> ''") == "0"


def test_failed_state_dump_kept_and_readable(host):
    dumps = host.check_output("ls /var/backups/prompt-library/failed-state-*.dump").split()
    assert len(dumps) == 1
    listing = host.check_output(f"runuser -u postgres -- pg_restore --list {dumps[0]}")
    assert "TABLE DATA public prompt_templates" in listing


def test_schema_version_recorded(host):
    assert f"DATABASE_SCHEMA_VERSION={BACKUP_SCHEMA_VERSION}" in host.file(f"{APP_ROOT}/.env").content_string


def test_app_runs_at_backup_schema(host):
    config = json.loads(host.check_output(
        f'curl -fsS -H "Authorization: Bearer {TOKEN}" http://127.0.0.1:8000/api/admin/config'))
    assert config["version"] == "1.5.0"
    assert config["active_schema_version"] == BACKUP_SCHEMA_VERSION
    assert config["applied_schema_versions"] == [BACKUP_SCHEMA_VERSION]


def test_database_marked_as_restored(host):
    comment = psql(host, "postgres",
                   f"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{DB}'")
    assert comment.startswith("promptlib.rollback: restored from backup-pre-deployment.sql")


def test_application_healthy(host):
    health = json.loads(host.check_output("curl -fsS http://127.0.0.1/health"))
    assert health["status"] == "ok"
    assert health["database"] == "ok"
