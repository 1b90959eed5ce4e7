"""The template_admin module against the real prompt library in a drill container.

Each operation that changes something runs in check mode (nothing changes),
then for real (the change shows in the application), then again (no change).
The module runs on the container through the `ansible` command, as a task would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from drill_host import APP_ROOT, DrillHost

pytestmark = pytest.mark.integration

# A healthy second release: the module is tested, not a fault.
DRILL_FAULT = "none"
MODULE = "promptlib.rollback.template_admin"
EXPORT = "/var/backups/prompt-library/templates-export.json"
DEFAULT_TEMPLATES = 5
ALL_TEMPLATES = 8
TOKEN = f"$(sed -n 's/^ADMIN_TOKEN=//p' {APP_ROOT}/.env)"


def run_module(host: DrillHost, args: dict, check: bool = False, diff: bool = False,
               token: str = "{{ lookup('ansible.builtin.env', 'ADMIN_TOKEN') }}") -> tuple[dict, str]:
    """Run the module on the container; return its result and the command's whole output."""
    env = {**os.environ, **host.podman_env, **host.envvars,
           "ANSIBLE_CONFIG": str(host.root / "ansible.cfg"),
           "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
           "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}
    command = [str(Path(sys.executable).parent / "ansible"), host.name, "-i", str(host.inventory), "-m", MODULE,
               "-a", json.dumps({**args, "token": token})]
    command += ["--check"] if check else []
    command += ["--diff"] if diff else []
    completed = subprocess.run(command, env=env, cwd=host.root, capture_output=True, text=True, check=False)
    output = completed.stdout + completed.stderr
    result = json.loads(completed.stdout)["plays"][0]["tasks"][0]["hosts"][host.name]
    return result, output


def api_get(host: DrillHost, path: str) -> dict:
    return json.loads(host.sh(f'curl -sS -H "Authorization: Bearer {TOKEN}" http://127.0.0.1:8000{path}').stdout)


def template_count(host: DrillHost) -> int:
    return api_get(host, "/api/admin/templates")["count"]


def test_maintenance_check_apply_repeat(drill_host):
    message = "Template system maintenance in progress"
    args = {"operation": "maintenance", "enabled": True, "maintenance_message": message}
    check, unused = run_module(drill_host, args, check=True, diff=True)
    assert check["changed"] is True
    assert check["diff"]["after"].startswith("enabled: true")
    assert api_get(drill_host, "/api/admin/maintenance")["enabled"] is False

    applied, unused = run_module(drill_host, args)
    assert applied["changed"] is True
    expected = {"enabled": True, "message": "Template system maintenance in progress"}
    assert api_get(drill_host, "/api/admin/maintenance") == expected
    again, unused = run_module(drill_host, args)
    assert again["changed"] is False

    off, unused = run_module(drill_host, {"operation": "maintenance", "enabled": False})
    assert off["changed"] is True
    assert api_get(drill_host, "/api/admin/maintenance")["enabled"] is False


def test_safe_mode_check_apply_repeat(drill_host):
    args = {"operation": "safe_mode", "enabled": True}
    check, unused = run_module(drill_host, args, check=True)
    assert check["changed"] is True
    assert api_get(drill_host, "/api/admin/templates/safe-mode")["enabled"] is False
    applied, unused = run_module(drill_host, args)
    assert applied["changed"] is True
    assert api_get(drill_host, "/api/admin/templates/safe-mode")["enabled"] is True
    again, unused = run_module(drill_host, args)
    assert again["changed"] is False
    run_module(drill_host, {"operation": "safe_mode", "enabled": False})


def test_export_check_apply_repeat(drill_host):
    args = {"operation": "export", "dest": EXPORT}
    check, unused = run_module(drill_host, args, check=True)
    assert check["changed"] is True
    assert drill_host.sh(f"test -e {EXPORT}", check=False).returncode != 0

    applied, unused = run_module(drill_host, args)
    assert applied["changed"] is True
    assert applied["count"] == ALL_TEMPLATES
    assert drill_host.sh(f"sha256sum {EXPORT}").stdout.split()[0] == applied["sha256"]
    assert drill_host.sh(f"stat -c %a {EXPORT}").stdout.strip() == "600"
    exported = json.loads(drill_host.sh(f"cat {EXPORT}").stdout)
    assert exported["templates"] == api_get(drill_host, "/api/admin/templates")["templates"]

    again, unused = run_module(drill_host, args)
    assert again["changed"] is False
    assert again["sha256"] == applied["sha256"]


def test_component_health_reads_components(drill_host):
    result, unused = run_module(drill_host, {"operation": "component_health"})
    assert result["changed"] is False
    assert {name: value["status"] for name, value in result["components"].items()} == {
        "validation": "healthy", "cache": "healthy", "analytics": "healthy"}
    drill_host.sh("systemctl stop template-cache-service")
    try:
        result, unused = run_module(drill_host, {"operation": "component_health"})
    finally:
        drill_host.sh("systemctl start template-cache-service")
    assert result["unhealthy"] == ["cache"]
    assert result["components"]["cache"]["http_status"] == 503


def test_list_and_config(drill_host):
    listed, unused = run_module(drill_host, {"operation": "list"})
    assert listed["count"] == ALL_TEMPLATES
    config, unused = run_module(drill_host, {"operation": "config"})
    assert config["config"]["version"] == "1.5.0"
    assert config["config"]["flags"]["TEMPLATE_CREATION_ENABLED"] is True


def test_reset_defaults_check_then_apply(drill_host):
    check, unused = run_module(drill_host, {"operation": "reset_defaults"}, check=True)
    assert check["changed"] is True
    assert template_count(drill_host) == ALL_TEMPLATES
    applied, unused = run_module(drill_host, {"operation": "reset_defaults"}, diff=True)
    assert applied["changed"] is True
    assert applied["removed"] == ALL_TEMPLATES - DEFAULT_TEMPLATES
    assert template_count(drill_host) == DEFAULT_TEMPLATES
    assert "drill-custom-1" in applied["diff"]["before"]
    assert "drill-custom-1" not in applied["diff"]["after"]
    # The API has no route that reports whether the templates already are the defaults.
    again, unused = run_module(drill_host, {"operation": "reset_defaults"})
    assert again["changed"] is True
    assert again["removed"] == 0


def test_wrong_token_rejected_without_leaking(drill_host):
    secret = "not-the-admin-token-but-secret-0123"
    result, output = run_module(drill_host, {"operation": "list"}, token=secret)
    assert result["failed"] is True
    assert "GET http://127.0.0.1:8000/api/admin/templates failed with HTTP status 401" in result["msg"]
    assert secret not in output


def test_real_token_never_in_output(drill_host):
    token = drill_host.envvars["ADMIN_TOKEN"]
    unused, output = run_module(drill_host, {"operation": "maintenance", "enabled": False}, diff=True)
    unused, failing = run_module(drill_host, {"operation": "list", "url": "http://127.0.0.1:8999"})
    assert token not in output
    assert token not in failing
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in output


def test_unreachable_url_named(drill_host):
    result, unused = run_module(drill_host, {"operation": "list", "url": "http://127.0.0.1:8999"})
    assert result["failed"] is True
    assert "http://127.0.0.1:8999/api/admin/templates failed" in result["msg"]
    assert "Nothing was changed." in result["msg"]
