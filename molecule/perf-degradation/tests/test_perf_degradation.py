"""End state of the perf-degradation drill after the gradual rollback.

Runs on the drill container through molecule's testinfra verifier; the export
copied to the controller is checked on the machine that runs molecule.
"""

import hashlib
import json
import os

import pytest

APP_ROOT = "/opt/prompt-library"
FAILING_VERSION = "1.5.0"
JOURNAL = "/var/lib/promptlib-rollback/gradual-prompt-library-1.5.0.json"
FLAGS = ("VIEWING", "CREATION", "EDITING", "VALIDATION", "CACHE", "ANALYTICS")
# The five default templates the application seeds; the three custom ones the
# drill target creates are exported, then removed by the reset.
DEFAULT_TEMPLATES = 5
EXPORTED_TEMPLATES = 8
# Read the token inside the container, so it never appears in a command line here.
TOKEN = f"$(sed -n 's/^ADMIN_TOKEN=//p' {APP_ROOT}/.env)"


def admin_get(host, path):
    return json.loads(host.check_output(
        f'curl -fsS -H "Authorization: Bearer {TOKEN}" http://127.0.0.1:8000{path}'))


@pytest.fixture(scope="module")
def journal(host):
    return json.loads(host.file(JOURNAL).content_string)


def test_journal_completed_in_order(host, journal):
    assert journal["completed"] is True
    assert journal["halted"] is None
    assert journal["done"] == [
        "maintenance_on", "features_disabled", "templates_reset", "recovered", "maintenance_off",
        "stage:viewing", "stage:creation", "stage:editing",
    ]


def test_every_gate_passed(host, journal):
    for stage in ("monitoring", "viewing", "creation", "editing"):
        assert all(check["passed"] for check in journal["gates"][stage]), stage


def test_maintenance_mode_off(host):
    assert admin_get(host, "/api/admin/maintenance")["enabled"] is False


@pytest.mark.parametrize("flag", FLAGS)
def test_running_flags_enabled(host, flag):
    assert admin_get(host, "/api/admin/config")["flags"][f"TEMPLATE_{flag}_ENABLED"] is True


def test_env_flags_persisted(host):
    env = host.file(f"{APP_ROOT}/.env").content_string
    assert "TEMPLATE_CREATION_ENABLED=true" in env
    assert "TEMPLATE_EDITING_ENABLED=true" in env


def test_env_copy_kept_before_first_change(host):
    copies = host.check_output(f"ls {APP_ROOT}/.env.before-gradual-rollback-*").split()
    assert len(copies) == 1
    assert "TEMPLATE_CREATION_ENABLED=true" in host.file(copies[0]).content_string


def test_templates_reset_to_defaults(host):
    templates = admin_get(host, "/api/admin/templates")["templates"]
    assert len(templates) == DEFAULT_TEMPLATES
    assert all(template["is_default"] for template in templates)


def test_host_export_holds_custom_templates(host, journal):
    export = journal["export"]
    exported = json.loads(host.file(export["host_path"]).content_string)
    assert exported["count"] == EXPORTED_TEMPLATES
    names = {template["name"] for template in exported["templates"]}
    assert {"drill-custom-1", "drill-custom-2", "drill-custom-3"} <= names
    assert host.file(export["host_path"]).sha256sum == export["sha256"]


def test_controller_export_matches(journal):
    export = journal["export"]
    assert export["controller_path"].startswith(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    with open(export["controller_path"], "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == export["sha256"]


def test_response_time_recovered(host):
    seconds = float(host.check_output("curl -o /dev/null -fsS -w '%{time_total}' http://127.0.0.1:8000/health"))
    assert seconds < 1.0


def test_release_unchanged(host):
    health = json.loads(host.check_output("curl -fsS http://127.0.0.1/health"))
    assert health["status"] == "ok"
    assert health["version"] == FAILING_VERSION
