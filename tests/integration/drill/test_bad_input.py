"""Bad input refused before any change, and check mode on every procedure, on one drill container.

Each case of the table puts one bad input on the host (or passes one), runs a
procedure and expects a refusal whose message names the bad value and the fix,
with the host's fingerprint unchanged. The case then puts the host back, and
the fingerprint must equal the one the module started with, so that the next
case starts from the same host. The check-mode tests run every procedure with
--check on that same host: nothing changes, and the changed steps list what a real run would change.

The release deployed fails its template validation but runs, so that the admin
API answers for the feature and gradual procedures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from drill_host import APP_ROOT, NGINX_SITE, DrillHost

from promptlib_rollback.results import RunResult
from promptlib_rollback.runner import run_playbook

pytestmark = pytest.mark.integration

DRILL_FAULT = "fails-validation"

FULL = "playbooks/rollback-full.yml"
FEATURE = "playbooks/rollback-feature.yml"
DECIDE = "playbooks/rollback.yml"
FEATURE_APPROVAL = {"rollback_approved_by": "Kim Example", "rollback_approver_role": "backend-lead"}

PREVIOUS = f"{APP_ROOT}/previous-stable"
BACKUP = f"{APP_ROOT}/backup-pre-deployment.sql"
ECOSYSTEM = f"{APP_ROOT}/ecosystem.config.js"
# Bad inputs are made in BAD, where the postgres user can read them, and files moved aside go to
# ASIDE. The fingerprint covers neither, and each case removes both.
BAD = "/tmp/promptlib-bad-input"
ASIDE = "/root/promptlib-aside"
DUMP_CUSTOM = f"mkdir -p {BAD} && runuser -u postgres -- pg_dump -Fc -d promptlib_production > {BAD}/backup.dump"
# A custom archive starts with PGDMP and the archive version: major, minor, revision. 1.99.0 is
# newer than any pg_restore supports, as when the backup was written by a newer pg_dump.
NEWER_ARCHIVE_VERSION = f"printf '\\001\\143\\000' | dd of={BAD}/backup.dump bs=1 seek=5 conv=notrunc status=none"
# /dev/shm in the container has 63 MB. With 58 MB taken, it has no room for a dump of the
# 7.5 MB database at the pg_dump module's min_free_ratio of 1.2.
FILL_SHM = ("mkdir -p /dev/shm/dumps && chown postgres: /dev/shm/dumps"
            " && head -c 58M /dev/zero > /dev/shm/fill")
# An HTTP server that answers every request with 500, as an application whose database is gone.
MOCK_500_PORT = 8599
MOCK_500 = (
    "nohup python3 -c 'import http.server as h\n"
    "class H(h.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        b = b\"{\\\"error\\\": \\\"database connection lost\\\"}\"\n"
    "        self.send_response(500); self.send_header(\"Content-Type\", \"application/json\")\n"
    "        self.send_header(\"Content-Length\", str(len(b))); self.end_headers(); self.wfile.write(b)\n"
    "    do_POST = do_PUT = do_GET\n"
    f"h.HTTPServer((\"127.0.0.1\", {MOCK_500_PORT}), H).serve_forever()' >/dev/null 2>&1 &"
    f" echo $! > {BAD}/mock.pid; for i in $(seq 50); do"
    f" curl -s -o /dev/null http://127.0.0.1:{MOCK_500_PORT}/ && break; sleep 0.1; done"
)
UNUSED_PORT = 8598


def aside(path: str) -> str:
    """Shell that moves ``path`` out of the way, keeping it for undo_aside."""
    return f"mkdir -p {ASIDE} && mv {path} {ASIDE}/"


def back(path: str) -> str:
    """Shell that moves ``path`` back from where aside() put it."""
    return f"mv {ASIDE}/{path.rsplit('/', 1)[1]} {path}"


def edited(path: str, command: str) -> str:
    """Shell that keeps a copy of ``path`` and then runs ``command`` on it (``{}`` is the path)."""
    return f"mkdir -p {ASIDE} && cp -a {path} {ASIDE}/ && " + command.format(path)


@dataclass(frozen=True)
class Case:
    """One bad input: how to make it, which procedure meets it and what the refusal must say."""

    name: str
    playbook: str
    # Each must be in the message: the bad value, then the fix.
    expected: tuple[str, ...]
    extravars: dict = field(default_factory=dict)
    setup: str = ""
    undo: str = ""
    envvars: dict = field(default_factory=dict)
    outcome: str = "refused"


CASES = [
    # The release to go back to.
    Case("previous-stable missing", FULL,
         (f"{PREVIOUS} does not exist", "Restore it from the release archive", "promptlib_previous_release"),
         setup=aside(PREVIOUS), undo=back(PREVIOUS)),
    Case("previous-stable empty", FULL,
         (f"{PREVIOUS} is empty", "Restore it from the release archive", "promptlib_previous_release"),
         setup=f"{aside(PREVIOUS)} && mkdir {PREVIOUS}", undo=f"rmdir {PREVIOUS} && {back(PREVIOUS)}"),
    Case("previous-stable without its entry point", FULL,
         (f"{PREVIOUS} is incomplete", "server.js", "Restore it from the release archive"),
         setup=aside(f"{PREVIOUS}/server.js"), undo=back(f"{PREVIOUS}/server.js")),
    Case(".env.previous missing", FULL,
         (f"{APP_ROOT}/.env.previous", "missing", "Restore it from your configuration backup"),
         setup=aside(f"{APP_ROOT}/.env.previous"), undo=back(f"{APP_ROOT}/.env.previous")),
    Case("previous nginx site missing", FULL,
         (f"{NGINX_SITE}.previous", "missing", "Restore it from your configuration backup"),
         setup=aside(f"{NGINX_SITE}.previous"), undo=back(f"{NGINX_SITE}.previous")),
    Case("previous nginx site fails nginx -t", FULL,
         (f"{NGINX_SITE}.previous fails nginx -t", "this_is_not_a_directive", "Fix that file so nginx accepts it"),
         setup=edited(f"{NGINX_SITE}.previous", "echo 'this_is_not_a_directive on;' >> {}"),
         undo=back(f"{NGINX_SITE}.previous")),
    # The admin token.
    Case("no admin token", FULL,
         ("No admin token", "set ADMIN_TOKEN in the environment", "promptlib_admin_token"),
         envvars={"ADMIN_TOKEN": ""}),
    Case("admin token not the previous one", FULL,
         (f"is not the ADMIN_TOKEN of {APP_ROOT}/.env.previous", "Pass the token of the previous configuration"),
         extravars={"promptlib_admin_token": "not-the-previous-token"}),
    # What starts the restored release.
    Case("pm2 not installed", FULL,
         ("pm2 is not installed", "/usr/local/bin", "Install pm2 (npm install -g pm2)"),
         setup=aside("/usr/local/bin/pm2"), undo=back("/usr/local/bin/pm2")),
    Case("ecosystem file missing", FULL,
         (f"The ecosystem file {ECOSYSTEM} is missing", "Put the ecosystem file back", "promptlib_app_root"),
         setup=aside(ECOSYSTEM), undo=back(ECOSYSTEM)),
    # The pre-deployment backup.
    Case("backup missing", FULL,
         (f"{BACKUP} is missing or empty", "set promptlib_backup_path", "rollback-partial.yml"),
         setup=aside(BACKUP), undo=back(BACKUP)),
    Case("backup truncated", FULL,
         (f"{BACKUP} is truncated", "Use a complete backup", "rollback-partial.yml"),
         setup=edited(BACKUP, "truncate -s $(( $(stat -c %s {0}) / 2 )) {0}"), undo=back(BACKUP)),
    Case("backup corrupt", FULL,
         (f"{BACKUP} has no \"-- Dumped by pg_dump version\" line", "decompressed first", "rollback-partial.yml"),
         setup=edited(BACKUP, "head -c 4096 /dev/urandom | tr -d '\\000' > {}"), undo=back(BACKUP)),
    Case("custom backup corrupt", FULL,
         (f"pg_restore --list cannot read backup {BAD}/backup.dump", "corrupt, truncated", "rollback-partial.yml"),
         extravars={"promptlib_backup_path": f"{BAD}/backup.dump"},
         setup=f"{DUMP_CUSTOM} && truncate -s 200 {BAD}/backup.dump"),
    Case("custom backup from a newer pg_dump", FULL,
         (f"cannot read backup {BAD}/backup.dump", "archive format version 1.99.0",
          "Restore it with a pg_restore at least as new", "take the backup again with pg_dump 15"),
         extravars={"promptlib_backup_path": f"{BAD}/backup.dump"},
         setup=f"{DUMP_CUSTOM} && {NEWER_ARCHIVE_VERSION}"),
    Case("backup owners missing", FULL,
         (f"{BAD}/owners.sql assigns objects to roles that do not exist", "ghost_owner", "Create these roles first"),
         extravars={"promptlib_backup_path": f"{BAD}/owners.sql"},
         setup=f"mkdir -p {BAD} && sed 's/OWNER TO promptlib;/OWNER TO ghost_owner;/' {BACKUP} > {BAD}/owners.sql"),
    # The failed-state dump.
    Case("no disk space for the failed-state dump", FULL,
         ("Not enough free space in /dev/shm/dumps", "Free space in /dev/shm/dumps, choose another dest"),
         extravars={"promptlib_restore_database": True, "promptlib_dump_dir": "/dev/shm/dumps"},
         setup=FILL_SHM, undo="rm -rf /dev/shm/dumps /dev/shm/fill"),
    Case("approval missing", FEATURE,
         ("The feature-specific rollback needs an approval", "none was given",
          "-e rollback_approved_by='NAME' -e rollback_approver_role=backend-lead")),
    Case("approver role unknown", FEATURE,
         ("rollback_approver_role 'intern' is not a known role", "Use one of"),
         extravars={"rollback_approved_by": "Kim Example", "rollback_approver_role": "intern"}),
    Case("admin API answers 401", FEATURE,
         ("http://127.0.0.1:8000/api/admin/config failed with HTTP status 401",
          "pass the ADMIN_TOKEN of the application's .env"),
         extravars={**FEATURE_APPROVAL, "promptlib_admin_token": "not-the-admin-token"}),
    Case("admin API answers 500", FEATURE,
         (f"http://127.0.0.1:{MOCK_500_PORT}/api/admin/config failed with HTTP status 500",
          "database connection lost", "Check the application's log"),
         extravars={**FEATURE_APPROVAL, "promptlib_app_url": f"http://127.0.0.1:{MOCK_500_PORT}"},
         setup=f"mkdir -p {BAD} && {MOCK_500}", undo=f"kill $(cat {BAD}/mock.pid)"),
    Case("admin API does not answer", FEATURE,
         (f"http://127.0.0.1:{UNUSED_PORT}/api/admin/config failed", "Connection refused",
          "Check url and that the application is running"),
         extravars={**FEATURE_APPROVAL, "promptlib_app_url": f"http://127.0.0.1:{UNUSED_PORT}"}),
    # The decision and the inventory.
    Case("unknown issue type", DECIDE,
         ("disk-on-fire", "Pass it with -e rollback_issue=TYPE"),
         extravars={"rollback_issue": "disk-on-fire"}),
    Case("no host matched", FULL,
         ("no-such-group", "rollback_target"),
         extravars={"rollback_target": "no-such-group"}, outcome="no_hosts"),
]


def run_case(host: DrillHost, case: Case) -> RunResult:
    return run_playbook(host.root / case.playbook, host.inventory, case.extravars,
                        procedure=case.playbook.rsplit("/", 1)[1].removesuffix(".yml"),
                        artifacts_root=host.artifacts, envvars={**host.envvars, **case.envvars})


@pytest.fixture(scope="module")
def start_fingerprint(drill_host: DrillHost) -> str:
    return drill_host.fingerprint()


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_refused_with_host_unchanged(drill_host, start_fingerprint, case):
    try:
        if case.setup:
            drill_host.sh(case.setup)
        before = drill_host.fingerprint()
        result = run_case(drill_host, case)
        after = drill_host.fingerprint()
    finally:
        drill_host.sh(f"{case.undo or 'true'}; rm -rf {BAD} {ASIDE}")
    message = result.refused_reason or result.error or ""
    assert result.outcome == case.outcome, f"{result.outcome}: {message or result.failed_step}"
    for text in case.expected:
        assert text in message
    assert not [step.describe() for step in result.steps if step.changed]
    assert after == before
    assert drill_host.fingerprint() == start_fingerprint, "the case did not put the host back"


@dataclass(frozen=True)
class CheckRun:
    """One procedure run with --check, and the roles whose steps must report a change they would make."""

    procedure: str
    would_change: frozenset
    extravars: dict = field(default_factory=dict)
    # Makes the host need the procedure; undo puts it back. Both run outside the comparison.
    setup: str = ""
    undo: str = ""
    outcome: str = "succeeded"


CHECK_RUNS = [
    CheckRun("full", frozenset({"stop_services", "restore_code", "restore_config"})),
    CheckRun("partial", frozenset({"stop_services", "restore_code", "restore_config"})),
    CheckRun("database", frozenset({"stop_services", "restore_database", "app_env"}),
             {"rollback_approved_by": "Dana Example", "rollback_approver_role": "database-administrator"}),
    CheckRun("gradual", frozenset({"maintenance", "app_env", "template_export"}),
             {"rollback_approved_by": "Pat Example", "rollback_approver_role": "product-manager",
              "promptlib_monitor_seconds": 2, "promptlib_reenable_wait_seconds": 2}),
    CheckRun("feature", frozenset({"app_env", "safe_mode"}), FEATURE_APPROVAL),
    CheckRun("service-restart", frozenset({"service_restart"}),
             setup="systemctl stop template-cache-service", undo="systemctl start template-cache-service"),
    CheckRun("hotfix", frozenset()),
    # Names no procedure: it stops at once, in check mode too.
    CheckRun("unavailable", frozenset(), {"rollback_issue": "disk-on-fire"}, outcome="failed"),
]


@pytest.mark.parametrize("check_run", CHECK_RUNS, ids=[run.procedure for run in CHECK_RUNS])
def test_check_mode_changes_nothing_and_reports_changes(drill_host, start_fingerprint, check_run):
    try:
        if check_run.setup:
            drill_host.sh(check_run.setup)
        before = drill_host.fingerprint()
        # The gradual rollback exports the templates to the controller first.
        extravars = {**check_run.extravars, "promptlib_export_dir": str(drill_host.artifacts / "check-exports")}
        result = drill_host.run(f"playbooks/rollback-{check_run.procedure}.yml", extravars, check=True)
        after = drill_host.fingerprint()
    finally:
        if check_run.undo:
            drill_host.sh(check_run.undo)
    assert result.outcome == check_run.outcome, result.error or result.refused_reason or result.failed_step
    assert result.check_mode
    assert after == before
    would_change = {step.role for step in result.steps if step.changed}
    assert check_run.would_change <= would_change
    if not check_run.would_change:
        assert not would_change
    if check_run.procedure == "hotfix":
        assert result.facts["promptlib_rollback_completed"][drill_host.name]["rollback"] is False
    if check_run.procedure == "unavailable":
        assert "No rollback procedure can run for rollback_issue=disk-on-fire" in result.failed_step.message
    assert drill_host.fingerprint() == start_fingerprint, "the check run did not put the host back"
