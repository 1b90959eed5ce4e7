"""promptlib.rollback.pm2 against the real pm2 7 in a drill container.

The app runs under a pm2 daemon of its own (PM2_HOME below), so no other pm2
process in the container is touched. Each step runs in check mode first (nothing
may change), then for real, then again (nothing may change).
"""

from __future__ import annotations

import json
import shlex

import pytest
from module_host import ModuleHost, parse_environ

pytestmark = pytest.mark.integration

APP_DIR = "/srv/it-pm2"
PM2_HOME = "/root/.pm2-it-modules"
APP_NAME = "it-pm2-web"
ECOSYSTEM = f"{APP_DIR}/ecosystem.config.js"

SERVER_JS = """\
console.log('server started, FLAG=' + process.env.FLAG);
setInterval(() => {}, 1000);
"""

# Reads .env when it is loaded, like the application's real ecosystem file.
ECOSYSTEM_JS = """\
const fs = require('fs');
const path = require('path');
const env = {};
for (const line of fs.readFileSync(path.join(__dirname, '.env'), 'utf8').split('\\n')) {
  const separator = line.indexOf('=');
  if (separator > 0) env[line.slice(0, separator)] = line.slice(separator + 1);
}
module.exports = { apps: [{ name: '%s', script: 'server.js', env: env }] };
""" % APP_NAME


def write_file(host: ModuleHost, path: str, content: str) -> None:
    host.sh(f"cat > {shlex.quote(path)} <<'PROMPTLIB_EOF'\n{content}PROMPTLIB_EOF")


def processes(host: ModuleHost) -> list[dict]:
    """Read the process list of the test's pm2 daemon with the real pm2 CLI."""
    output = host.sh(f"PM2_HOME={PM2_HOME} pm2 jlist").stdout
    # pm2 may print a banner before the JSON list on its first run.
    return json.loads(output[output.index("["):])


def app_process(host: ModuleHost) -> dict | None:
    matching = [process for process in processes(host) if process["name"] == APP_NAME]
    return matching[0] if matching else None


def app_environment(host: ModuleHost) -> dict[str, str]:
    """Read the environment of the running app from /proc, not from what pm2 stored."""
    pid = app_process(host)["pid"]
    return parse_environ(host.sh(f"cat /proc/{pid}/environ").stdout)


def pm2_args(**args) -> dict:
    args.update(pm2_home=PM2_HOME, wait_timeout=30, stable_seconds=1)
    return args


@pytest.fixture(scope="module")
def app(module_host: ModuleHost):
    module_host.sh(f"rm -rf {APP_DIR} && mkdir -p {APP_DIR}")
    write_file(module_host, f"{APP_DIR}/server.js", SERVER_JS)
    write_file(module_host, f"{APP_DIR}/ecosystem.config.js", ECOSYSTEM_JS)
    write_file(module_host, f"{APP_DIR}/.env", "FLAG=one\nTEMPLATE_EDITING_ENABLED=true\n")
    yield APP_DIR
    module_host.sh(f"PM2_HOME={PM2_HOME} pm2 kill", check=False)


def test_pm2_started_from_ecosystem(module_host, app):
    args = pm2_args(ecosystem=ECOSYSTEM, state="started")

    checked = module_host.run_module("pm2", args, check=True, diff=True)
    assert not checked.get("failed"), checked.get("msg")
    assert checked["changed"] is True
    assert checked["commands"][0][1:] == ["start", ECOSYSTEM, "--only", APP_NAME]
    assert app_process(module_host) is None

    applied = module_host.run_module("pm2", args)
    assert not applied.get("failed"), applied.get("msg")
    assert applied["changed"] is True
    assert app_process(module_host)["pm2_env"]["status"] == "online"
    assert app_environment(module_host)["FLAG"] == "one"
    pid = app_process(module_host)["pid"]

    again = module_host.run_module("pm2", args)
    assert not again.get("failed"), again.get("msg")
    assert again["changed"] is False
    assert again["commands"] == []
    assert app_process(module_host)["pid"] == pid


def test_pm2_environment_change_reaches_process(module_host, app):
    args = pm2_args(ecosystem=ECOSYSTEM, state="started")
    assert not module_host.run_module("pm2", args).get("failed")
    pid_before = app_process(module_host)["pid"]
    # FLAG changes and TEMPLATE_EDITING_ENABLED is removed, as a restored .env would do.
    write_file(module_host, f"{APP_DIR}/.env", "FLAG=two\n")

    checked = module_host.run_module("pm2", args, check=True)
    assert checked["changed"] is True
    assert checked["reasons"][APP_NAME] == [
        "the environment differs from the ecosystem file in FLAG",
        "the ecosystem file no longer sets TEMPLATE_EDITING_ENABLED",
    ]
    assert app_process(module_host)["pid"] == pid_before
    assert app_environment(module_host)["FLAG"] == "one"

    applied = module_host.run_module("pm2", args)
    assert not applied.get("failed"), applied.get("msg")
    assert applied["changed"] is True
    environment = app_environment(module_host)
    assert environment["FLAG"] == "two"
    assert "TEMPLATE_EDITING_ENABLED" not in environment

    again = module_host.run_module("pm2", args)
    assert again["changed"] is False


def test_pm2_removed_variable_alone_restarts(module_host, app):
    write_file(module_host, f"{APP_DIR}/.env", "FLAG=two\nTEMPLATE_CREATION_ENABLED=true\n")
    args = pm2_args(ecosystem=ECOSYSTEM, state="started")
    assert not module_host.run_module("pm2", args).get("failed")
    assert app_environment(module_host)["TEMPLATE_CREATION_ENABLED"] == "true"
    write_file(module_host, f"{APP_DIR}/.env", "FLAG=two\n")

    checked = module_host.run_module("pm2", args, check=True)
    assert checked["reasons"] == {APP_NAME: ["the ecosystem file no longer sets TEMPLATE_CREATION_ENABLED"]}
    assert "TEMPLATE_CREATION_ENABLED" in app_environment(module_host)

    applied = module_host.run_module("pm2", args)
    assert not applied.get("failed"), applied.get("msg")
    assert applied["changed"] is True
    assert "TEMPLATE_CREATION_ENABLED" not in app_environment(module_host)

    again = module_host.run_module("pm2", args)
    assert again["changed"] is False


def test_pm2_stopped_by_name(module_host, app):
    assert not module_host.run_module("pm2", pm2_args(ecosystem=ECOSYSTEM, state="started")).get("failed")
    args = pm2_args(name=APP_NAME, state="stopped")

    checked = module_host.run_module("pm2", args, check=True, diff=True)
    assert checked["changed"] is True
    assert checked["diff"]["after"].endswith(": stopped\n")
    assert app_process(module_host)["pm2_env"]["status"] == "online"

    applied = module_host.run_module("pm2", args)
    assert not applied.get("failed"), applied.get("msg")
    assert applied["changed"] is True
    assert app_process(module_host)["pm2_env"]["status"] == "stopped"

    again = module_host.run_module("pm2", args)
    assert again["changed"] is False
    assert app_process(module_host)["pm2_env"]["status"] == "stopped"


def test_pm2_absent(module_host, app):
    args = pm2_args(name=APP_NAME, state="absent")
    assert app_process(module_host) is not None

    checked = module_host.run_module("pm2", args, check=True)
    assert checked["changed"] is True
    assert app_process(module_host) is not None

    applied = module_host.run_module("pm2", args)
    assert not applied.get("failed"), applied.get("msg")
    assert applied["changed"] is True
    assert app_process(module_host) is None

    again = module_host.run_module("pm2", args)
    assert again["changed"] is False
