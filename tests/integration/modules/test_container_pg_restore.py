"""promptlib.rollback.pg_restore against the PostgreSQL 15 server of a drill container.

The live database is in the state a failed release leaves: rows deleted, a table
added and an application session still connected. The restore runs in check mode
first (nothing may change), then for real, then again (nothing may change).
"""

from __future__ import annotations

import subprocess

import pytest
from module_host import ModuleHost

pytestmark = pytest.mark.integration

DB = "it_pg_restore"
BACKUP_DIR = "/var/backups/it-pg-restore"
BACKUP = f"{BACKUP_DIR}/backup-pre-deployment.dump"
TIMESTAMP = "20240501_101500"
FAILED_DB = f"{DB}_failed_{TIMESTAMP}"
GOOD_ROWS = 10
FAILED_ROWS = 6


def databases(host: ModuleHost) -> list[str]:
    return host.psql("SELECT datname FROM pg_database ORDER BY 1").split()


def row_count(host: ModuleHost, db: str = DB) -> int:
    return int(host.psql("SELECT COUNT(*) FROM prompt_templates", db))


def sessions(host: ModuleHost, db: str = DB) -> int:
    return int(host.psql(f"SELECT COUNT(*) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"))


@pytest.fixture(scope="module")
def backup(module_host: ModuleHost) -> str:
    """Create the good database, dump it, then turn it into the failed release's database."""
    module_host.sh(f"rm -rf {BACKUP_DIR} && install -d -o postgres -g postgres -m 0700 {BACKUP_DIR}")
    for name in (DB, FAILED_DB, f"{DB}_rollback_shadow"):
        module_host.psql(f"DROP DATABASE IF EXISTS {name}")
    module_host.psql(f"CREATE DATABASE {DB}")
    module_host.psql(
        "CREATE TABLE prompt_templates (id serial PRIMARY KEY, name text NOT NULL, body text); "
        f"INSERT INTO prompt_templates (name, body) SELECT 'template ' || g, 'body ' || g "
        f"FROM generate_series(1, {GOOD_ROWS}) g",
        DB,
    )
    module_host.sh(f"pg_dump --format custom --file {BACKUP} --dbname {DB}", user="postgres")
    module_host.psql(f"DELETE FROM prompt_templates WHERE id > {FAILED_ROWS}; CREATE TABLE failed_release (id int)", DB)
    return BACKUP


@pytest.fixture
def open_session(module_host: ModuleHost):
    """Keep a session of the application open on the live database, as a running app would."""
    session = subprocess.Popen(
        ["podman", "exec", "--user", "postgres", module_host.name,
         "psql", "-X", "-d", DB, "-c", "SELECT pg_sleep(600)"],
        env=module_host.podman_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    for _attempt in range(50):
        if sessions(module_host) > 0:
            break
        subprocess.run(["sleep", "0.2"], check=True)
    yield session
    if session.poll() is None:
        session.kill()
    session.communicate(timeout=30)


def test_pg_restore_swap_lifecycle(module_host, backup, open_session):
    args = {"db": DB, "src": backup, "timestamp": TIMESTAMP}
    databases_before = databases(module_host)
    assert sessions(module_host) == 1

    checked = module_host.run_module("pg_restore", args, check=True, diff=True, become_user="postgres")
    assert not checked.get("failed"), checked.get("msg")
    assert checked["changed"] is True
    assert checked["failed_db"] == FAILED_DB
    assert checked["rows"] is None
    assert "replaced database kept as: %s" % FAILED_DB in checked["diff"]["after"]
    assert databases(module_host) == databases_before
    assert row_count(module_host) == FAILED_ROWS
    assert sessions(module_host) == 1

    applied = module_host.run_module("pg_restore", args, diff=True, become_user="postgres")
    assert not applied.get("failed"), applied.get("msg")
    assert applied["changed"] is True
    assert applied["rows"] == GOOD_ROWS
    assert row_count(module_host) == GOOD_ROWS
    assert module_host.psql("SELECT to_regclass('failed_release') IS NULL", DB) == "t"
    assert row_count(module_host, FAILED_DB) == FAILED_ROWS
    assert f"{DB}_rollback_shadow" not in databases(module_host)
    assert module_host.psql(f"SELECT datallowconn FROM pg_database WHERE datname = '{DB}'") == "t"
    # The application's session was ended so that the live database could be renamed.
    open_session.communicate(timeout=30)
    assert open_session.returncode != 0
    databases_after = databases(module_host)

    again = module_host.run_module("pg_restore", args, become_user="postgres")
    assert not again.get("failed"), again.get("msg")
    assert again["changed"] is False
    assert again["rows"] == GOOD_ROWS
    assert databases(module_host) == databases_after


def test_pg_restore_missing_owner_rejected(module_host, backup):
    """A backup whose objects belong to a role missing on the server is rejected before any change."""
    module_host.psql("DROP DATABASE IF EXISTS it_ghost_source")
    module_host.psql("DROP ROLE IF EXISTS it_ghost")
    module_host.psql("CREATE ROLE it_ghost NOLOGIN")
    module_host.psql("CREATE DATABASE it_ghost_source")
    module_host.psql("CREATE TABLE prompt_templates (id int PRIMARY KEY, name text); "
                     "INSERT INTO prompt_templates SELECT g, 'ghost ' || g FROM generate_series(1, 3) g; "
                     "ALTER TABLE prompt_templates OWNER TO it_ghost", "it_ghost_source")
    ghost_backup = f"{BACKUP_DIR}/ghost.dump"
    module_host.sh(f"pg_dump --format custom --file {ghost_backup} --dbname it_ghost_source", user="postgres")
    module_host.psql("DROP DATABASE it_ghost_source")
    module_host.psql("DROP ROLE it_ghost")
    databases_before = databases(module_host)
    rows_before = row_count(module_host)

    rejected = module_host.run_module("pg_restore", {"db": DB, "src": ghost_backup, "timestamp": "20240501_111500"},
                                      become_user="postgres")
    assert rejected.get("failed") is True
    assert "it_ghost" in rejected["msg"]
    assert "no_owner" in rejected["msg"]
    assert databases(module_host) == databases_before
    assert row_count(module_host) == rows_before

    args = {"db": "it_ghost_restored", "src": ghost_backup, "no_owner": True, "min_rows": 3}
    applied = module_host.run_module("pg_restore", args, become_user="postgres")
    assert not applied.get("failed"), applied.get("msg")
    assert applied["changed"] is True
    assert row_count(module_host, "it_ghost_restored") == 3
    module_host.psql("DROP DATABASE it_ghost_restored")
