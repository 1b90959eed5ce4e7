"""promptlib.rollback.log_archive against real log files in a drill container.

The logs sit where the application writes them (/var/log/prompt-library, the folder of
the default promptlib_log_file that the preserve_logs role archives) and in a folder of
the test's own. A Python HTTP server started in the container serves the metrics URL,
and its access log shows whether the module requested it. The archive runs in check
mode first (nothing may change), then for real, then again (the archive is kept and
nothing runs), then with force (a new archive).
"""

from __future__ import annotations

import base64
import io
import json
import shlex
import tarfile
import time

import pytest
from module_host import ModuleHost

pytestmark = pytest.mark.integration

LOG_DIR = "/var/log/prompt-library"
APP_LOG = f"{LOG_DIR}/application.log"
ERROR_LOG = f"{LOG_DIR}/error.log"
# A rotated log, which the *.log pattern must not match.
ROTATED_LOG = f"{LOG_DIR}/application.log.1"

WORK_DIR = "/srv/it-log-archive"
NGINX_LOG = f"{WORK_DIR}/nginx/access.log"
MISSING_PATTERN = f"{WORK_DIR}/none/*.log"
DEST_DIR = f"{WORK_DIR}/out"
DEST = f"{DEST_DIR}/logs.tar.gz"
# Appended to by the archived command, so its line count is the number of runs.
COMMAND_MARKER = f"{WORK_DIR}/command-runs"

# The HTTP server's files live outside WORK_DIR, so that its access log does not show
# up in the snapshots of the folders the module may write to.
SERVER_DIR = "/srv/it-log-archive-server"
SERVER_PORT = 18181
METRICS_URL = f"http://127.0.0.1:{SERVER_PORT}/metrics"
METRICS_BODY = "promptlib_database_up 1\n"
SERVER_TIMEOUT_SECONDS = 10

# application.log is longer than MAX_BYTES, so the archive keeps only its end.
MAX_BYTES = 4096
APP_LOG_LINES = 200
NOTES = "Taken before the switch.\n"
COMMAND_OUTPUT = "command output\n"

ARGS = {
    "dest": DEST,
    "paths": [f"{LOG_DIR}/*.log", NGINX_LOG, MISSING_PATTERN],
    "max_bytes": MAX_BYTES,
    "contents": {"notes/run.txt": NOTES},
    "urls": {"metrics/app.prom": METRICS_URL},
    "commands": {"metrics/command.txt": ["sh", "-c", f"echo run >> {COMMAND_MARKER}; printf '{COMMAND_OUTPUT}'"]},
}

LOG_MEMBERS = {
    APP_LOG: APP_LOG.lstrip("/"),
    ERROR_LOG: ERROR_LOG.lstrip("/"),
    NGINX_LOG: NGINX_LOG.lstrip("/"),
}
GENERATED_MEMBERS = ["metrics/app.prom", "metrics/app.prom.status.json", "metrics/command.txt", "notes/run.txt"]

# Every entry under the folders the module reads or writes, with type, mode, owner, size
# and modification time.
SNAPSHOT = f"find {LOG_DIR} {WORK_DIR} -printf '%p %y %m %u %s %T@\\n' | sort"


def write_file(host: ModuleHost, path: str, content: str) -> None:
    host.sh(f"cat > {shlex.quote(path)} <<'PROMPTLIB_EOF'\n{content}PROMPTLIB_EOF")


def read_bytes(host: ModuleHost, path: str) -> bytes:
    return base64.b64decode(host.sh(f"base64 -w0 {shlex.quote(path)}").stdout)


def snapshot(host: ModuleHost) -> str:
    return host.sh(SNAPSHOT).stdout


def metrics_requests(host: ModuleHost) -> int:
    """Count the GET requests for the metrics URL in the HTTP server's access log."""
    return int(host.sh(f"grep -c 'GET /metrics ' {SERVER_DIR}/access.log || true").stdout.strip())


def command_runs(host: ModuleHost) -> int:
    return int(host.sh(f"cat {COMMAND_MARKER} 2>/dev/null | wc -l").stdout.strip())


def archive_members(host: ModuleHost, path: str = DEST) -> dict[str, bytes]:
    """Return the archive's members as a dict from name to content.

    GNU tar in the container must list the same names as Python's tarfile reads.
    """
    listed = host.sh(f"tar -tzf {shlex.quote(path)}").stdout.split()
    with tarfile.open(fileobj=io.BytesIO(read_bytes(host, path)), mode="r:gz") as archive:
        members = {member.name: archive.extractfile(member).read() for member in archive.getmembers()}
    assert sorted(listed) == sorted(members)
    return members


def file_status(host: ModuleHost, path: str) -> str:
    """Return the mode in octal, owner and group of ``path``."""
    return host.sh(f"stat -c '%a %U %G' {shlex.quote(path)}").stdout.strip()


def expected_files(host: ModuleHost) -> list[dict]:
    files = []
    for path, member in LOG_MEMBERS.items():
        size = int(host.sh(f"stat -c %s {path}").stdout)
        archived = min(size, MAX_BYTES)
        files.append({"path": path, "member": member, "size": size, "archived_bytes": archived,
                      "truncated": size > archived})
    return files


@pytest.fixture(scope="module")
def logs(module_host: ModuleHost):
    log_dir_existed = module_host.sh(f"test -d {LOG_DIR}", check=False).returncode == 0
    module_host.sh(f"rm -rf {WORK_DIR} {SERVER_DIR} && mkdir -p {LOG_DIR} {WORK_DIR}/nginx {DEST_DIR} {SERVER_DIR}")
    app_log = "".join(f"2024-05-01T10:15:{index % 60:02d}Z request {index:04d} served in 12 ms\n"
                      for index in range(APP_LOG_LINES))
    write_file(module_host, APP_LOG, app_log)
    write_file(module_host, ERROR_LOG, "2024-05-01T10:15:30Z error: template 42 failed validation\n")
    write_file(module_host, ROTATED_LOG, "2024-04-30T23:59:59Z rotated line\n")
    write_file(module_host, NGINX_LOG, '127.0.0.1 - - [01/May/2024:10:15:00 +0000] "GET /health HTTP/1.1" 200 15\n')
    write_file(module_host, f"{SERVER_DIR}/metrics", METRICS_BODY)

    module_host.sh(
        f"nohup python3 -m http.server {SERVER_PORT} --bind 127.0.0.1 --directory {SERVER_DIR}"
        f" >> {SERVER_DIR}/access.log 2>&1 < /dev/null & echo $! > {SERVER_DIR}/server.pid"
    )
    deadline = time.monotonic() + SERVER_TIMEOUT_SECONDS
    while module_host.sh(f"curl -sf -o /dev/null http://127.0.0.1:{SERVER_PORT}/ready", check=False).returncode == 7:
        if time.monotonic() > deadline:
            pytest.fail(f"The HTTP server on port {SERVER_PORT} did not start within {SERVER_TIMEOUT_SECONDS} s.")
        time.sleep(0.2)
    yield LOG_DIR

    module_host.sh(f"kill $(cat {SERVER_DIR}/server.pid)", check=False)
    module_host.sh(f"rm -rf {WORK_DIR} {SERVER_DIR} && rm -f {APP_LOG} {ERROR_LOG} {ROTATED_LOG}", check=False)
    if not log_dir_existed:
        module_host.sh(f"rmdir {LOG_DIR}", check=False)


def test_log_archive_lifecycle(module_host, logs):
    module_host.sh(f"rm -f {DEST} {COMMAND_MARKER}")
    before = snapshot(module_host)
    requests_before = metrics_requests(module_host)

    checked = module_host.run_module("log_archive", ARGS, check=True)
    assert not checked.get("failed"), checked.get("msg")
    assert checked["changed"] is True
    assert checked["files"] == expected_files(module_host)
    assert checked["missing"] == [MISSING_PATTERN]
    assert checked["unreadable"] == []
    assert checked["generated"] == ["notes/run.txt"]
    assert snapshot(module_host) == before
    assert metrics_requests(module_host) == requests_before
    assert command_runs(module_host) == 0

    applied = module_host.run_module("log_archive", ARGS)
    assert not applied.get("failed"), applied.get("msg")
    assert applied["changed"] is True
    assert applied["files"] == checked["files"]
    assert applied["missing"] == [MISSING_PATTERN]
    assert applied["generated"] == GENERATED_MEMBERS
    assert module_host.sh(f"ls -A {DEST_DIR}").stdout.split() == ["logs.tar.gz"]
    assert file_status(module_host, DEST) == "600 root root"
    members = archive_members(module_host)
    assert sorted(members) == sorted(list(LOG_MEMBERS.values()) + GENERATED_MEMBERS)
    for path, member in LOG_MEMBERS.items():
        assert members[member] == read_bytes(module_host, path)[-MAX_BYTES:], path
    assert len(members[LOG_MEMBERS[APP_LOG]]) == MAX_BYTES
    assert members["notes/run.txt"] == NOTES.encode()
    assert members["metrics/app.prom"] == METRICS_BODY.encode()
    assert json.loads(members["metrics/app.prom.status.json"])["status"] == 200
    assert members["metrics/command.txt"] == COMMAND_OUTPUT.encode()
    assert metrics_requests(module_host) == requests_before + 1
    assert command_runs(module_host) == 1
    inode = module_host.sh(f"stat -c %i {DEST}").stdout.strip()
    logs_after = module_host.sh(f"find {LOG_DIR} -printf '%p %s %T@\\n' | sort").stdout

    again = module_host.run_module("log_archive", ARGS)
    assert not again.get("failed"), again.get("msg")
    assert again["changed"] is False
    assert again["kept"] is True
    assert module_host.sh(f"ls -A {DEST_DIR}").stdout.split() == ["logs.tar.gz"]
    assert module_host.sh(f"stat -c %i {DEST}").stdout.strip() == inode
    assert archive_members(module_host) == members
    assert module_host.sh(f"find {LOG_DIR} -printf '%p %s %T@\\n' | sort").stdout == logs_after
    assert metrics_requests(module_host) == requests_before + 1
    assert command_runs(module_host) == 1

    forced = module_host.run_module("log_archive", dict(ARGS, force=True))
    assert not forced.get("failed"), forced.get("msg")
    assert forced["changed"] is True
    assert forced["files"] == checked["files"]
    assert module_host.sh(f"stat -c %i {DEST}").stdout.strip() != inode
    assert file_status(module_host, DEST) == "600 root root"
    assert archive_members(module_host) == members
    assert metrics_requests(module_host) == requests_before + 2
    assert command_runs(module_host) == 2


def test_log_archive_replaces_foreign_file(module_host, logs):
    dest = f"{WORK_DIR}/foreign.tar.gz"
    module_host.sh(f"echo 'not an archive' > {dest} && chown postgres:postgres {dest} && chmod 0644 {dest}")

    result = module_host.run_module("log_archive", {"dest": dest, "paths": [APP_LOG], "force": True})

    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    assert file_status(module_host, dest) == "600 root root"
    assert archive_members(module_host, dest) == {LOG_MEMBERS[APP_LOG]: read_bytes(module_host, APP_LOG)}


BAD_INPUTS = {
    "directory dest": ({"dest": DEST_DIR}, DEST_DIR),
    "command string": ({"commands": {"metrics/disk.txt": "df -P /"}}, "'df -P /'"),
}


@pytest.mark.parametrize("check", [True, False], ids=["check", "apply"])
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_log_archive_bad_input_rejected(module_host, logs, case, check):
    override, named_value = BAD_INPUTS[case]
    before = snapshot(module_host)
    requests_before = metrics_requests(module_host)
    runs_before = command_runs(module_host)

    result = module_host.run_module("log_archive", dict(ARGS, **override), check=check)

    assert result.get("failed") is True
    assert named_value in result["msg"]
    assert snapshot(module_host) == before
    assert metrics_requests(module_host) == requests_before
    assert command_runs(module_host) == runs_before
