"""A rollback killed with SIGKILL at each step, then run again, on one drill container.

Each test kills a chain of runs of one procedure: the first run is killed when the first task of a step
appears in its output, the next run continues it and is killed at the next step, and so on, with one kill in
the middle of the database restore. A last run finishes the rollback. A chain costs one rollback plus a
preflight per kill, where a fresh rollback per step would cost a drill setup and a rollback each.

The full rollback runs first, on the failing release of the drill. The database-only rollback then runs on the
same container after its data was damaged again and its restore mark removed, so it needs the full test to run
first. A module started by a killed run keeps running on the host, so each kill waits for it to end before the
next run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from drill_host import APP_ROOT, TEMPLATES_SUMMARY, DrillHost, without_lock

pytestmark = pytest.mark.integration

DB = "promptlib_production"
BACKUP = f"{APP_ROOT}/backup-pre-deployment.sql"
DUMP_DIR = "/var/backups/prompt-library"
STATE_DIR = "/var/lib/promptlib-rollback"
FULL = "playbooks/rollback-full.yml"
FULL_VARS = {"promptlib_restore_database": True}
DATABASE = "playbooks/rollback-database.yml"
DATABASE_VARS = {"rollback_approved_by": "Dana Example", "rollback_approver_role": "database-administrator"}
RUN_TIMEOUT = 600

# (what the kill interrupts, task header that triggers it, seconds to wait after the header)
FULL_KILLS = [
    ("the staging of the backup", "restore_database : Restore the backup into the shadow database", 1.5),
    ("stop_services", "stop_services : ", 0),
    ("restore_code", "restore_code : ", 0),
    ("restore_database", "restore_database : Dump the failed state", 0),
    ("the database restore", "restore_database : Restore the pre-deployment backup", 0.5),
    ("restore_config", "restore_config : ", 0),
    ("start_services", "start_services : ", 0),
    ("validate", "validate : ", 0),
]
DATABASE_KILLS = [
    ("the staging of the backup", "restore_database : Restore the backup into the shadow database", 1.5),
    ("stop_services", "stop_services : ", 0),
    ("restore_database", "restore_database : Dump the failed state", 0),
    ("the database restore", "restore_database : Restore the pre-deployment backup", 0.5),
    ("database_verify", "database_verify : ", 0),
    ("schema_version", "schema_version : ", 0),
    ("start_services", "start_services : ", 0),
    ("validate", "validate : ", 0),
]
# In the database-only rollback, database_verify also checks the shadow database during the preflight.
AFTER = {("database_verify", DATABASE): "restore_database : Dump the failed state"}


def psql(host: DrillHost, database: str, query: str) -> str:
    return host.sh(f'runuser -u postgres -- psql -XtA -d {database} -c "{query}"').stdout.strip()


def backup_summary(host: DrillHost) -> str:
    scratch = "rollback_test_interrupted"
    host.sh(f"runuser -u postgres -- dropdb --if-exists {scratch} && runuser -u postgres -- createdb {scratch}"
            f" && runuser -u postgres -- psql -Xq -v ON_ERROR_STOP=1 -d {scratch} -f {BACKUP} -o /dev/null")
    try:
        return psql(host, scratch, TEMPLATES_SUMMARY)
    finally:
        host.sh(f"runuser -u postgres -- dropdb --if-exists {scratch}")


def listing(host: DrillHost, command: str) -> set[str]:
    return set(host.sh(command, check=False).stdout.split())


def failed_databases(host: DrillHost) -> set[str]:
    return set(psql(host, "postgres", f"SELECT datname FROM pg_database WHERE datname LIKE '{DB}_failed_%'").split())


def kept(host: DrillHost) -> dict[str, set[str]]:
    return {
        "releases": listing(host, f"ls -d {APP_ROOT}/current-failed-*"),
        "dumps": listing(host, f"ls {DUMP_DIR}/failed-state-*.dump"),
        "databases": failed_databases(host),
    }


def wait_for_orphans(host: DrillHost) -> None:
    """Wait until no module that the killed run started still runs in the container.

    A killed controller does not stop a module already running on the host; the operator's next run has to
    wait for it as well (the README says so for a forced cancel).
    """
    deadline = time.monotonic() + 120
    while host.sh("pgrep -f [A]nsiballZ_", check=False).returncode == 0:
        assert time.monotonic() < deadline, "a module of the killed run still runs after 120 s"
        time.sleep(1)


def run_and_kill(host: DrillHost, playbook: str, extravars: dict, header: str, delay: float,
                 after: str | None = None) -> str:
    """Run the playbook and SIGKILL its process group when the task header appears; return the output."""
    env = {**os.environ, **host.envvars, "ANSIBLE_CONFIG": str(host.root / "ansible.cfg"),
           "ANSIBLE_FORCE_COLOR": "0", "PYTHONUNBUFFERED": "1"}
    argv = ["ansible-playbook", "-i", str(host.inventory), "-e", json.dumps(extravars), str(host.root / playbook)]
    process = subprocess.Popen(argv, cwd=host.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    lines = []
    armed = after is None
    killed = False
    deadline = time.monotonic() + RUN_TIMEOUT
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if line.startswith("TASK [promptlib.rollback.") and after and after in line:
            armed = True
        if armed and line.startswith(f"TASK [promptlib.rollback.{header}"):
            time.sleep(delay)
            os.killpg(process.pid, signal.SIGKILL)
            killed = True
            break
        if time.monotonic() > deadline:
            break
    if not killed:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    output = "".join(lines)
    assert killed, f"the run never reached {header!r}:\n{output[-6000:]}"
    wait_for_orphans(host)
    return output


def kill_chain(host: DrillHost, playbook: str, extravars: dict, kills: list, baseline: dict) -> None:
    for label, header, delay in kills:
        run_and_kill(host, playbook, extravars, header, delay, AFTER.get((label, playbook)))
        # Nothing is kept twice, whatever step was cut short.
        now = kept(host)
        assert all(len(now[kind] - baseline[kind]) <= 1 for kind in now), (label, now)


def assert_finished(host: DrillHost, playbook: str, extravars: dict) -> dict:
    """Run the procedure to its end after the kills and return the artifacts its report names as kept."""
    result = host.run(playbook, extravars)
    assert result.outcome == "succeeded", result.error or result.failed_step
    messages = " ".join(step.message or "" for step in result.steps)
    assert "Took the rollback lock over from run" in messages
    health = host.health(port=80)
    assert health.get("status") == "ok", health
    assert health.get("version") == "1.4.0", health
    assert host.sh(f"test -e {STATE_DIR}/rollback.lock", check=False).returncode == 1
    # The journal was completed and moved aside, so the next rollback starts a new one.
    journals = host.sh(f"ls {STATE_DIR}", check=False).stdout.split()
    assert not [name for name in journals if name.endswith(".json") and ".completed-" not in name], journals
    return result.facts["promptlib_rollback_completed"][host.name]["kept"]


def test_full_rollback_killed_at_each_step(drill_host):
    expected = backup_summary(drill_host)
    failed_data = psql(drill_host, DB, TEMPLATES_SUMMARY)
    kill_chain(drill_host, FULL, FULL_VARS, FULL_KILLS, kept(drill_host))

    reported = assert_finished(drill_host, FULL, FULL_VARS)
    assert psql(drill_host, DB, TEMPLATES_SUMMARY) == expected
    on_host = kept(drill_host)
    assert on_host == {"releases": {reported["failed_release"]}, "dumps": {reported["failed_state_dump"]},
                       "databases": {reported["failed_database"]}}
    # The failed release, and the failed data in the kept database and in the dump.
    assert '"1.5.0"' in drill_host.sh(f"cat {reported['failed_release']}/release.json").stdout
    assert psql(drill_host, reported["failed_database"], TEMPLATES_SUMMARY) == failed_data
    assert "prompt_templates" in drill_host.sh(
        f"runuser -u postgres -- pg_restore --list {reported['failed_state_dump']}").stdout


def test_database_rollback_killed_at_each_step(drill_host):
    expected = backup_summary(drill_host)
    # Damage the data again and remove the mark of the earlier restore.
    drill_host.sh(f"runuser -u postgres -- psql -Xq -d {DB} -c \"UPDATE prompt_templates SET body = ''; "
                  f"COMMENT ON DATABASE {DB} IS NULL\"")
    failed_data = psql(drill_host, DB, TEMPLATES_SUMMARY)
    before = kept(drill_host)

    kill_chain(drill_host, DATABASE, DATABASE_VARS, DATABASE_KILLS[:4], before)
    # A run with other inputs is refused before it changes anything, and names the fix.
    fingerprint = drill_host.fingerprint()
    other = drill_host.run(DATABASE, {**DATABASE_VARS, "promptlib_database_restore_strategy": "in_place"})
    assert other.outcome == "refused", other.error or other.failed_step
    assert 'promptlib_database_restore_strategy is "in_place", the interrupted run used "swap"' in other.refused_reason
    assert "move that journal aside" in other.refused_reason
    # The refused run took the killed run's lock over and released it; nothing else changed.
    assert drill_host.lock_holder() is None
    assert without_lock(drill_host.fingerprint()) == without_lock(fingerprint)
    kill_chain(drill_host, DATABASE, DATABASE_VARS, DATABASE_KILLS[4:], before)

    reported = assert_finished(drill_host, DATABASE, DATABASE_VARS)
    assert psql(drill_host, DB, TEMPLATES_SUMMARY) == expected
    after = kept(drill_host)
    assert after["releases"] == before["releases"]
    assert after["dumps"] - before["dumps"] == {reported["failed_state_dump"]}
    assert after["databases"] - before["databases"] == {reported["failed_database"]}
    assert psql(drill_host, reported["failed_database"], TEMPLATES_SUMMARY) == failed_data
    # The dump contains the damaged data, not the restored data.
    scratch = "rollback_test_failed_dump"
    drill_host.sh(f"runuser -u postgres -- createdb {scratch} && runuser -u postgres -- pg_restore --no-owner "
                  f"-d {scratch} {reported['failed_state_dump']}")
    try:
        assert psql(drill_host, scratch, TEMPLATES_SUMMARY) == failed_data
    finally:
        drill_host.sh(f"runuser -u postgres -- dropdb --if-exists {scratch}")
