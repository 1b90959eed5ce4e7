"""Decide, diagnose, validate, notify and record, drilled against one container.

Each fault of the drill target is set up with playbooks/drill-setup.yml, named
by the diagnosis, and (where this collection has the procedure) rolled back
through playbooks/rollback.yml. A webhook receiver on 127.0.0.1, started by the
tests, records the notifications. The tests run in file order and share the
container, so later tests rely on the state earlier ones leave.
"""

from __future__ import annotations

import http.server
import io
import json
import threading
from pathlib import Path
from typing import Iterator

import pytest
from drill_host import APP_ROOT, DrillHost, drill_container

from promptlib_rollback import cli
from promptlib_rollback.diagnosis import Diagnosis, diagnose
from promptlib_rollback.report import load_report
from promptlib_rollback.results import RunResult

pytestmark = pytest.mark.integration

DISPATCHER = "playbooks/rollback.yml"
BASELINE_FILE = "/var/lib/prompt-library/response-baseline.json"
VALIDATION_CHECKS = {
    "application health", "health through nginx", "database connectivity", "template API", "smoke tests",
    "response time", "node memory", "log errors since rollback", "fatal log lines since rollback",
    "admin interface", "admin API rejects a missing token", "cache",
}
PRESERVED_FILES = {
    "var/log/prompt-library/application.log", "var/log/prompt-library/pm2-out.log",
    "var/log/prompt-library/pm2-error.log", "var/log/nginx/error.log", "var/log/postgresql/postgresql-15-main.log",
    "metrics/app.prom", "metrics/pm2-processes.json", "proc/meminfo",
}


class Receiver(http.server.BaseHTTPRequestHandler):
    """Webhook receiver: stores (path, JSON body) of every POST."""

    received: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def webhook(tmp_path_factory) -> Iterator[dict]:
    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    config = tmp_path_factory.mktemp("notify") / "notify.yml"
    config.write_text(
        f"""
interval_minutes: 0.25
targets:
  - {{name: ops-slack, format: slack, url: {url}/slack}}
  - {{name: incident-log, format: json, url: {url}/json}}
status_page:
  url: {url}/status
customer_notice:
  impact: Templates cannot be edited during the rollback.
""",
        encoding="utf-8",
    )
    yield {"PROMPTLIB_NOTIFY_CONFIG": str(config)}
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def host(tmp_path_factory) -> Iterator[DrillHost]:
    with drill_container(tmp_path_factory, "incident") as drill:
        yield drill


def explain(result: RunResult) -> str:
    """Return why a run did not succeed: its error and its first failed step."""
    step = result.failed_step
    detail = f"{step.describe()}: {step.message}" if step else "no failed step"
    return f"{result.outcome} ({result.artifacts_dir}): {result.error}; {detail}"


def set_up(host: DrillHost, fault: str) -> None:
    result = host.run("playbooks/drill-setup.yml", {"drill_target_fault": fault})
    assert result.outcome == "succeeded", explain(result)


def diagnose_host(host: DrillHost, **options) -> Diagnosis:
    return diagnose(host.inventory, artifacts_root=host.artifacts, envvars=host.envvars, **options)


def run_dispatcher(host: DrillHost, extravars: dict, envvars: dict | None = None) -> RunResult:
    from promptlib_rollback.runner import run_playbook

    return run_playbook(host.root / DISPATCHER, host.inventory, extravars, procedure="matrix",
                        artifacts_root=host.artifacts, envvars={**host.envvars, **(envvars or {})})


def database_fingerprint(host: DrillHost) -> str:
    return host.sh(
        "runuser -u postgres -- psql -XtAc 'SELECT datname FROM pg_database ORDER BY 1'; "
        "runuser -u postgres -- psql -XtA -d promptlib_production -c "
        "'SELECT COUNT(*), md5(string_agg(id::text || body, chr(124) ORDER BY id)) FROM prompt_templates'"
    ).stdout


def assert_recorded(host: DrillHost, result: RunResult) -> dict:
    """Check that a run left a report in JSON and Markdown and logs from before and after; return the report."""
    run_dir = Path(result.artifacts_dir)
    assert (run_dir / "report.md").is_file()
    report = load_report(result.run_id, host.artifacts)
    assert report["outcome"] == result.outcome
    assert len(report["timeline"]) == len(result.steps)
    assert all(step["start"] and step["end"] for step in report["timeline"])
    logs = report["hosts"][host.name]["logs"]
    for phase in ("before", "after"):
        folder = Path(logs[phase]["path"])
        preserved = {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}
        assert PRESERVED_FILES <= preserved, PRESERVED_FILES - preserved
    return report


def test_wont_start_diagnosed(host):
    set_up(host, "wont-start")
    result = diagnose_host(host)
    assert result.run.outcome == "succeeded", explain(result.run)
    assert result.issue_type == "application-wont-start"
    evidence = " ".join(result.evidence[host.name])
    assert "GET /health got no answer" in evidence
    # pm2 may still be restarting it or may have given up (errored).
    assert "prompt-library" in evidence
    assert "restarts" in evidence


def test_missing_approval_refused(host):
    before = host.fingerprint()
    result = run_dispatcher(host, {"rollback_issue": "performance-degradation"})
    assert result.outcome == "refused", result.error
    assert "needs an approval from product-manager" in result.refused_reason
    assert not [step for step in result.steps if step.changed]
    assert host.fingerprint() == before


def test_wrong_approver_refused(host):
    before = host.fingerprint()
    result = run_dispatcher(host, {"rollback_issue": "template-validation-failures",
                                   "rollback_approved_by": "Sam Doe", "rollback_approver_role": "on-call-engineer"})
    assert result.outcome == "refused", result.error
    assert "one of backend-lead, product-manager" in result.refused_reason
    assert "Sam Doe approved as on-call-engineer" in result.refused_reason
    assert host.fingerprint() == before


def test_matrix_rolls_back_wont_start(host, webhook):
    Receiver.received = []
    result = run_dispatcher(host, {"rollback_issue": "application-wont-start", "rollback_approved_by": "Ann Lee",
                                   "rollback_approver_role": "on-call-engineer"}, webhook)
    assert result.outcome == "succeeded", explain(result)
    assert host.health(port=80)["version"] == "1.4.0"
    report = assert_recorded(host, result)
    assert report["decision"]["rollback_type"] == "Immediate Full"
    assert report["approval"]["by"] == "Ann Lee"
    assert report["downtime_seconds"] > 0
    kept = report["hosts"][host.name]["kept"]
    assert kept["failed_release"].startswith(f"{APP_ROOT}/current-failed-")
    assert kept["failed_env"].startswith(f"{APP_ROOT}/.env.failed-")


def test_webhook_got_start_progress_end(host, webhook):
    events = [body["event"] for path, body in Receiver.received if path == "/json"]
    assert events[0] == "start"
    assert "progress" in events
    assert events[-1] == "end"
    end = [body for path, body in Receiver.received if path == "/json"][-1]
    assert end["outcome"] == "succeeded"
    assert end["approval"]["by"] == "Ann Lee"
    slack = [body["text"] for path, body in Receiver.received if path == "/slack"]
    assert slack[0].startswith(":rotating_light:")
    assert slack[-1].startswith(":white_check_mark:")
    assert [body["status"] for path, body in Receiver.received if path == "/status"][-1] == "monitoring"


def test_report_printed_again(host):
    run_dir = sorted(path for path in host.artifacts.iterdir() if (path / "report.json").is_file())[-1]
    report = json.loads((run_dir / "report.json").read_text())
    stdout = io.StringIO()
    assert cli.main(["report", run_dir.name, "--artifacts-dir", str(host.artifacts)], stdout=stdout) == 0
    printed = stdout.getvalue()
    assert printed.startswith(f"# Rollback report {run_dir.name}")
    assert f"| Outcome | {report['outcome']} |" in printed


def test_validation_reports_every_check(host):
    result = host.run("playbooks/validate.yml")
    assert result.outcome == "succeeded", explain(result)
    checks = result.facts["promptlib_rollback_validation"][host.name]
    assert {check["name"] for check in checks} == VALIDATION_CHECKS
    for check in checks:
        assert str(check["value"]).strip(), check
        assert check["passed"], check
    values = {check["name"]: check["value"] for check in checks}
    assert values["admin API rejects a missing token"] == "401"
    assert values["cache"] == "application sees healthy; round trip ok"


def test_cache_failure_fails_validation(host):
    host.sh("systemctl stop template-cache-service")
    result = host.run("playbooks/validate.yml")
    assert result.outcome == "failed"
    checks = {check["name"]: check for check in result.facts["promptlib_rollback_validation"][host.name]}
    assert checks["cache"]["passed"] is False
    assert checks["cache"]["critical"] is True
    assert "application sees unhealthy" in checks["cache"]["value"]


def test_cache_failure_diagnosed_and_restarted(host):
    result = diagnose_host(host)
    assert result.issue_type == "cache-failures"
    assert "template-cache-service is inactive" in result.evidence[host.name]
    restart = run_dispatcher(host, {"rollback_issue": "cache-failures"})
    assert restart.outcome == "succeeded", explain(restart)
    assert host.sh("systemctl is-active template-cache-service").stdout.strip() == "active"
    report = assert_recorded(host, restart)
    assert report["decision"]["rollback_type"] == "Service Restart"
    checks = report["hosts"][host.name]["validation"]
    assert [check["name"] for check in checks] == ["cache service health", "cache as the application sees it"]
    assert all(check["passed"] for check in checks)


def test_baseline_recorded(host):
    result = diagnose_host(host, record_baseline=True)
    assert result.run.outcome == "succeeded", explain(result.run)
    assert result.issue_type is None
    baseline = json.loads(host.sh(f"cat {BASELINE_FILE}").stdout)
    assert 0 < baseline["seconds"] < 1
    assert baseline["version"] == "1.4.0"


def test_slow_release_diagnosed(host):
    set_up(host, "slow")
    result = diagnose_host(host)
    assert result.issue_type == "performance-degradation"
    assert "against the baseline" in " ".join(result.evidence[host.name])


def test_partial_rollback_leaves_database(host):
    insert = "INSERT INTO prompt_templates (name, body, category) VALUES ('after-deploy', 'Kept {{x}}', 'drill')"
    host.sh(f'runuser -u postgres -- psql -Xq -d promptlib_production -c "{insert}"')
    before = database_fingerprint(host)
    result = run_dispatcher(host, {"rollback_issue": "security-vulnerability"})
    assert result.outcome == "succeeded", explain(result)
    assert host.health(port=80)["version"] == "1.4.0"
    assert database_fingerprint(host) == before
    assert not [step for step in result.steps if step.role in ("restore_database",) and step.changed]
    report = assert_recorded(host, result)
    assert report["decision"]["rollback_type"] == "Immediate Partial"
    assert report["hosts"][host.name]["completed"]["plan"]["database_step"] is False


def test_failing_validation_diagnosed(host):
    set_up(host, "fails-validation")
    result = diagnose_host(host)
    assert result.issue_type == "template-validation-failures"
    assert "valid probe templates rejected" in " ".join(result.evidence[host.name])
    cleanup = host.run("playbooks/rollback-full.yml")
    assert cleanup.outcome == "succeeded", explain(cleanup)
    assert_recorded(host, cleanup)


def test_corrupted_data_diagnosed_and_restored(host):
    set_up(host, "corrupts-data")
    result = diagnose_host(host)
    assert result.issue_type == "database-corruption"
    assert "no empty template bodies" in " ".join(result.evidence[host.name])
    rollback = run_dispatcher(host, {"rollback_issue": "database-corruption"})
    assert rollback.outcome == "succeeded", explain(rollback)
    report = assert_recorded(host, rollback)
    kept = report["hosts"][host.name]["kept"]
    assert kept["failed_database"].startswith("promptlib_production_failed_")
    assert kept["failed_state_dump"].endswith(".dump")
    assert diagnose_host(host).issue_type is None
