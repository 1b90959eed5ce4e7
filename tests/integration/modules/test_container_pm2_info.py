"""promptlib.rollback.pm2_info against the real pm2 7 in a drill container.

Three apps run under a pm2 daemon of their own (PM2_HOME below): one online, one that
crash-loops until pm2 gives up and marks it errored, and one stopped. What the module
reports is compared with `pm2 jlist` and with /proc in the container.
"""

from __future__ import annotations

import datetime
import json
import shlex
import time

import pytest
from module_host import ModuleHost

pytestmark = pytest.mark.integration

APP_DIR = "/srv/it-pm2-info"
PM2_HOME = "/root/.pm2-it-info"
ECOSYSTEM = f"{APP_DIR}/ecosystem.config.js"

ONLINE_APP = "it-info-web"
ERRORED_APP = "it-info-crash"
STOPPED_APP = "it-info-idle"
MISSING_APP = "it-info-missing"

# Set in the online app's environment. pm2 keeps it in its process list, and the module
# must leave it out of its result.
SECRET_VALUE = "it-pm2-info-secret-value"

# Seconds the fixture waits for pm2 to give up on the crash-looping app.
ERRORED_TIMEOUT_SECONDS = 30

# pm2 samples memory on every `pm2 jlist`, so an online process's value moves between two
# calls (by up to about 3 % in a few samples of an idle Node.js 18 process in the drill image).
MEMORY_TOLERANCE = 0.2

SERVER_JS = """\
console.log('web started');
setInterval(() => {}, 1000);
"""

CRASH_JS = """\
console.error('crash: exiting with status 1');
process.exit(1);
"""

# The crash app exits at once. pm2 7.0.4 stops restarting an app and marks it errored
# after max_restarts starts that each lasted less than min_uptime, so the restart count
# stops moving and can be compared between two reads.
ECOSYSTEM_JS = """\
module.exports = { apps: [
  { name: '%s', script: 'server.js', env: { SECRET_TOKEN: '%s' } },
  { name: '%s', script: 'crash.js', max_restarts: 2, min_uptime: 10000, restart_delay: 0 },
  { name: '%s', script: 'server.js' },
] };
""" % (ONLINE_APP, SECRET_VALUE, ERRORED_APP, STOPPED_APP)


def write_file(host: ModuleHost, path: str, content: str) -> None:
    host.sh(f"cat > {shlex.quote(path)} <<'PROMPTLIB_EOF'\n{content}PROMPTLIB_EOF")


def processes(host: ModuleHost) -> list[dict]:
    """Read the process list of the test's pm2 daemon with the real pm2 CLI."""
    output = host.sh(f"PM2_HOME={PM2_HOME} pm2 jlist").stdout
    # pm2 may print a banner before the JSON list on its first run.
    return json.loads(output[output.index("["):])


def by_name(process_list: list[dict]) -> dict[str, dict]:
    return {process["name"]: process for process in process_list}


def process_state(process_list: list[dict]) -> list[tuple]:
    """Return what an action on pm2 would change: each process's id, pid, status and restart count."""
    return sorted(
        (process["pm_id"], process["name"], process["pid"], process["pm2_env"]["status"],
         process["pm2_env"]["restart_time"])
        for process in process_list
    )


def daemon_pid(host: ModuleHost) -> str:
    return host.sh(f"cat {PM2_HOME}/pm2.pid").stdout.strip()


def utc_iso(milliseconds: int) -> str:
    moment = datetime.datetime.fromtimestamp(milliseconds / 1000.0, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_info(host: ModuleHost, check: bool = False, **args) -> dict:
    args.setdefault("pm2_home", PM2_HOME)
    result = host.run_module("pm2_info", args, check=check)
    assert not result.get("failed"), result.get("msg")
    return result


def without_memory(result: dict) -> list[dict]:
    return [{key: value for key, value in process.items() if key != "memory_bytes"}
            for process in result["processes"]]


@pytest.fixture(scope="module")
def apps(module_host: ModuleHost):
    module_host.sh(f"rm -rf {APP_DIR} {PM2_HOME} && mkdir -p {APP_DIR}")
    write_file(module_host, f"{APP_DIR}/server.js", SERVER_JS)
    write_file(module_host, f"{APP_DIR}/crash.js", CRASH_JS)
    write_file(module_host, ECOSYSTEM, ECOSYSTEM_JS)
    # pm2 resolves each script relative to the folder it runs in.
    module_host.sh(f"cd {APP_DIR} && PM2_HOME={PM2_HOME} pm2 start {ECOSYSTEM}")
    module_host.sh(f"PM2_HOME={PM2_HOME} pm2 stop {STOPPED_APP}")
    deadline = time.monotonic() + ERRORED_TIMEOUT_SECONDS
    while by_name(processes(module_host))[ERRORED_APP]["pm2_env"]["status"] != "errored":
        if time.monotonic() > deadline:
            pytest.fail(f"pm2 did not mark {ERRORED_APP} errored within {ERRORED_TIMEOUT_SECONDS} s.")
        time.sleep(0.5)
    yield by_name(processes(module_host))
    module_host.sh(f"PM2_HOME={PM2_HOME} pm2 kill", check=False)
    module_host.sh(f"rm -rf {APP_DIR} {PM2_HOME}", check=False)


def test_pm2_info_matches_jlist(module_host, apps):
    before = processes(module_host)
    result = run_info(module_host)
    after = processes(module_host)

    assert result["changed"] is False
    assert process_state(after) == process_state(before)
    reported = by_name(result["processes"])
    assert [process["name"] for process in result["processes"]] == [process["name"] for process in after]
    assert {name: process["status"] for name, process in reported.items()} == {
        ONLINE_APP: "online", ERRORED_APP: "errored", STOPPED_APP: "stopped"}
    assert result["online"] == 1

    for listed in after:
        name = listed["name"]
        pm2_env = listed["pm2_env"]
        assert reported[name]["pm_id"] == listed["pm_id"], name
        assert reported[name]["pid"] == (listed["pid"] or None), name
        assert reported[name]["restarts"] == pm2_env["restart_time"], name
        assert reported[name]["exec_path"] == pm2_env["pm_exec_path"], name
        assert reported[name]["cwd"] == pm2_env["pm_cwd"], name
        assert reported[name]["started_at"] == utc_iso(pm2_env["pm_uptime"]), name
        assert reported[name]["out_log"] == pm2_env["pm_out_log_path"], name
        assert reported[name]["error_log"] == pm2_env["pm_err_log_path"], name
        module_host.sh(f"test -f {shlex.quote(reported[name]['out_log'])}")

    # A crash loop counts restarts, and neither it nor the stopped app uses memory.
    assert reported[ERRORED_APP]["restarts"] > 0
    assert reported[ERRORED_APP]["memory_bytes"] == 0
    assert reported[STOPPED_APP]["memory_bytes"] == 0
    assert reported[STOPPED_APP]["restarts"] == 0

    memory_samples = [by_name(before)[ONLINE_APP]["monit"]["memory"], by_name(after)[ONLINE_APP]["monit"]["memory"]]
    assert min(memory_samples) * (1 - MEMORY_TOLERANCE) <= reported[ONLINE_APP]["memory_bytes"]
    assert reported[ONLINE_APP]["memory_bytes"] <= max(memory_samples) * (1 + MEMORY_TOLERANCE)


def test_pm2_info_pids_are_real(module_host, apps):
    reported = by_name(run_info(module_host)["processes"])

    pid = reported[ONLINE_APP]["pid"]
    command_line = module_host.sh(f"tr '\\0' ' ' < /proc/{pid}/cmdline").stdout
    assert f"{APP_DIR}/server.js" in command_line
    assert reported[ERRORED_APP]["pid"] is None
    assert reported[STOPPED_APP]["pid"] is None
    # Only the online app runs server.js, and nothing runs crash.js. The brackets keep
    # the pattern from matching the command line of the shell that runs pgrep.
    assert module_host.sh(f"pgrep -f '{APP_DIR}/[s]erver.js'").stdout.split() == [str(pid)]
    assert module_host.sh(f"pgrep -f '{APP_DIR}/[c]rash.js'", check=False).returncode == 1


def test_pm2_info_hides_environment(module_host, apps):
    environment = by_name(processes(module_host))[ONLINE_APP]["pm2_env"]["env"]
    assert environment["SECRET_TOKEN"] == SECRET_VALUE

    result = run_info(module_host)
    assert SECRET_VALUE not in json.dumps(result)


def test_pm2_info_check_mode_same(module_host, apps):
    before = processes(module_host)
    daemon_before = daemon_pid(module_host)

    checked = run_info(module_host, check=True)
    applied = run_info(module_host)

    assert checked["changed"] is False
    assert applied["changed"] is False
    assert without_memory(checked) == without_memory(applied)
    assert checked["online"] == applied["online"]
    assert process_state(processes(module_host)) == process_state(before)
    assert daemon_pid(module_host) == daemon_before


def test_pm2_info_selects_by_pm_id(module_host, apps):
    pm_id = apps[ERRORED_APP]["pm_id"]
    result = run_info(module_host, name=str(pm_id))
    assert [process["name"] for process in result["processes"]] == [ERRORED_APP]
    assert result["online"] == 0


def test_pm2_info_missing_name(module_host, apps):
    before = processes(module_host)

    result = run_info(module_host, name=MISSING_APP)

    assert result["changed"] is False
    assert result["processes"] == []
    assert result["online"] == 0
    after = processes(module_host)
    assert MISSING_APP not in by_name(after)
    assert process_state(after) == process_state(before)


def test_pm2_info_bad_executable_rejected(module_host, apps):
    before = processes(module_host)
    executable = f"{APP_DIR}/no-such-pm2"

    result = module_host.run_module("pm2_info", {"pm2_home": PM2_HOME, "executable": executable})

    assert result.get("failed") is True
    assert executable in result["msg"]
    assert "does not exist" in result["msg"]
    assert process_state(processes(module_host)) == process_state(before)
