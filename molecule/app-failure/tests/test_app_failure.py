"""End state of the app-failure drill after the full rollback.

Runs on the drill container through molecule's testinfra verifier.
"""

import json

import pytest

APP_ROOT = "/opt/prompt-library"
GOOD_VERSION = "1.4.0"
# Five default templates seeded by the application and three custom ones the
# drill target creates before it records the pre-deployment backup.
TEMPLATE_ROWS = 8


def test_helper_services_running(host):
    for name in ("template-cache-service", "template-analytics-service", "nginx", "postgresql"):
        service = host.service(name)
        assert service.is_running, f"{name} is not running"


def test_pm2_runs_restored_code(host):
    output = host.check_output("pm2 jlist")
    processes = json.loads(output[output.index("["):])
    app = [p for p in processes if p["name"] == "prompt-library"]
    assert len(app) == 1
    assert app[0]["pm2_env"]["status"] == "online"
    assert app[0]["pm2_env"]["pm_exec_path"] == f"{APP_ROOT}/current/server.js"


@pytest.mark.parametrize("url", ["http://127.0.0.1/health", "http://127.0.0.1:8000/health"])
def test_health_reports_previous_release(host, url):
    body = json.loads(host.check_output(f"curl -fsS {url}"))
    assert body["status"] == "ok"
    assert body["version"] == GOOD_VERSION


def test_current_is_previous_stable(host):
    current = json.loads(host.file(f"{APP_ROOT}/current/release.json").content_string)
    previous = json.loads(host.file(f"{APP_ROOT}/previous-stable/release.json").content_string)
    assert current == previous


def test_failed_release_kept(host):
    kept = host.check_output(f"ls -d {APP_ROOT}/current-failed-*").split()
    assert len(kept) == 1
    failed = json.loads(host.file(f"{kept[0]}/release.json").content_string)
    assert failed["fault"] == "wont-start"


def test_previous_configuration_live(host):
    assert host.file(f"{APP_ROOT}/.env").content == host.file(f"{APP_ROOT}/.env.previous").content
    site = "/etc/nginx/sites-available/prompt-library"
    assert host.file(site).content == host.file(f"{site}.previous").content
    assert host.check_output(f"ls {APP_ROOT}/.env.failed-*")
    assert host.check_output(f"ls {site}.failed-*")


def test_template_rows_intact(host):
    count = host.check_output(
        "runuser -u postgres -- psql -XtA -d promptlib_production -c 'SELECT COUNT(*) FROM prompt_templates'"
    )
    assert int(count) == TEMPLATE_ROWS


def test_nginx_config_valid(host):
    assert host.run("nginx -t").rc == 0
