"""promptlib.rollback.pg_dump against the PostgreSQL 15 server of a drill container.

The module runs as the postgres user with peer authentication, as the roles run it.
The dump runs in check mode first (no file may appear), then for real, then again
(the file must stay as it is).
"""

from __future__ import annotations

import pytest
from module_host import ModuleHost

pytestmark = pytest.mark.integration

DB = "it_pg_dump"
BACKUP_DIR = "/var/backups/it-pg-dump"
ROWS = 25


def file_state(host: ModuleHost, path: str) -> str:
    """Return the digest, size, mode and modification time of ``path``, or ``absent``."""
    result = host.sh(f"test -e {path} && stat -c '%s %a %Y' {path} && sha256sum {path}", check=False)
    return result.stdout if result.returncode == 0 else "absent"


@pytest.fixture(scope="module")
def database(module_host: ModuleHost) -> str:
    module_host.sh(f"rm -rf {BACKUP_DIR} && install -d -o postgres -g postgres -m 0700 {BACKUP_DIR}")
    module_host.psql(f"DROP DATABASE IF EXISTS {DB}")
    module_host.psql(f"CREATE DATABASE {DB}")
    module_host.psql(
        "CREATE TABLE prompt_templates (id serial PRIMARY KEY, name text NOT NULL, body text); "
        f"INSERT INTO prompt_templates (name, body) SELECT 'template ' || g, 'body ' || g "
        f"FROM generate_series(1, {ROWS}) g",
        DB,
    )
    return DB


@pytest.mark.parametrize("dump_format, suffix", [("custom", "dump"), ("plain", "sql")])
def test_pg_dump_lifecycle(module_host, database, dump_format, suffix):
    dest = f"{BACKUP_DIR}/failed-state.{suffix}"
    args = {"db": database, "dest": dest, "format": dump_format}

    checked = module_host.run_module("pg_dump", args, check=True, diff=True, become_user="postgres")
    assert not checked.get("failed"), checked.get("msg")
    assert checked["changed"] is True
    assert checked["command"][-4:] == ["--file", dest + ".partial", "--dbname", database]
    assert checked["diff"]["before"] == "absent\n"
    assert file_state(module_host, dest) == "absent"
    assert file_state(module_host, dest + ".partial") == "absent"

    applied = module_host.run_module("pg_dump", args, diff=True, become_user="postgres")
    assert not applied.get("failed"), applied.get("msg")
    assert applied["changed"] is True
    assert applied["verified"] is True
    assert applied["table_count"] == 1
    assert "sha256: %s" % applied["sha256"] in applied["diff"]["after"]
    state = file_state(module_host, dest)
    assert applied["sha256"] in state
    assert state.split()[1] == "600"
    assert file_state(module_host, dest + ".partial") == "absent"
    if dump_format == "custom":
        listing = module_host.sh(f"pg_restore --list {dest}").stdout
        assert "TABLE DATA public prompt_templates" in listing

    again = module_host.run_module("pg_dump", args, become_user="postgres")
    assert not again.get("failed"), again.get("msg")
    assert again["changed"] is False
    assert again["command"] is None
    assert file_state(module_host, dest) == state


def test_pg_dump_missing_database_rejected(module_host, database):
    dest = f"{BACKUP_DIR}/missing.dump"
    result = module_host.run_module("pg_dump", {"db": "it_pg_dump_missing", "dest": dest}, become_user="postgres")
    assert result.get("failed") is True
    assert "it_pg_dump_missing not found" in result["msg"]
    assert file_state(module_host, dest) == "absent"
