"""The notify callback and the incident report on real ansible-playbook runs against localhost.

A webhook receiver on 127.0.0.1, started by the test, records what arrives.
"""

from __future__ import annotations

import http.server
import json
import socket
import sys
import threading

import pytest

from promptlib_rollback import run_playbook
from promptlib_rollback.report import load_report

LOCAL_INVENTORY = {
    "all": {
        "children": {
            "prompt_library": {
                "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}
            }
        }
    }
}

# Runs long enough for a few progress notifications at a 0.6 s interval.
SLOW_ROLLBACK = """
- name: Roll back slowly
  hosts: prompt_library
  gather_facts: false
  tasks:
    - name: Take some time
      ansible.builtin.pause:
        seconds: 3
    - name: Report completion
      ansible.builtin.set_stats:
        data:
          promptlib_rollback_completed: "{{ {inventory_hostname: {}} }}"
"""


class Receiver(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.received = []
    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def notify_config(tmp_path, receiver, monkeypatch):
    config = tmp_path / "notify.yml"
    config.write_text(
        f"""
interval_minutes: 0.01
timeout_seconds: 2
targets:
  - name: ops-slack
    format: slack
    url: {receiver}/slack
  - name: incident-log
    format: json
    url_env: PROMPTLIB_TEST_WEBHOOK
  - name: unreachable
    url: http://127.0.0.1:{closed_port()}/hook
status_page:
  url: {receiver}/status
  component: Prompt templates
customer_notice:
  impact: Templates cannot be saved.
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("PROMPTLIB_TEST_WEBHOOK", f"{receiver}/json")
    return {"PROMPTLIB_NOTIFY_CONFIG": str(config)}


def by_path(path):
    return [body for received_path, body in Receiver.received if received_path == path]


def test_rollback_notifies_start_progress_end(tmp_path, notify_config):
    playbook = tmp_path / "rollback-slow.yml"
    playbook.write_text(SLOW_ROLLBACK, encoding="utf-8")
    result = run_playbook(playbook, LOCAL_INVENTORY, {"rollback_issue": "application-wont-start"},
                          artifacts_root=tmp_path / "artifacts", envvars=notify_config)
    assert result.outcome == "succeeded", result.error
    events = [body["event"] for body in by_path("/json")]
    assert events[0] == "start"
    assert "progress" in events
    assert events[-1] == "end"
    end = by_path("/json")[-1]
    assert end["outcome"] == "succeeded"
    assert end["issue_type"] == "application-wont-start"
    assert end["run_id"] == result.run_id
    assert "Impact: Templates cannot be saved." in by_path("/json")[0]["customer_notice"]["body"]


def test_slack_and_status_page_payloads(tmp_path, notify_config):
    playbook = tmp_path / "rollback-slow.yml"
    playbook.write_text(SLOW_ROLLBACK, encoding="utf-8")
    run_playbook(playbook, LOCAL_INVENTORY, {"rollback_issue": "cache-failures"},
                 artifacts_root=tmp_path / "artifacts", envvars=notify_config)
    slack = by_path("/slack")
    assert slack[0]["text"].startswith(":rotating_light: Rollback started")
    assert slack[-1]["text"].startswith(":white_check_mark: Rollback succeeded")
    status = by_path("/status")
    assert status[0]["status"] == "identified"
    assert status[0]["component"] == "Prompt templates"
    assert status[-1]["status"] == "monitoring"


def test_undeliverable_target_logged_not_failed(tmp_path, notify_config):
    playbook = tmp_path / "rollback-slow.yml"
    playbook.write_text(SLOW_ROLLBACK, encoding="utf-8")
    result = run_playbook(playbook, LOCAL_INVENTORY, {"rollback_issue": "cache-failures"},
                          artifacts_root=tmp_path / "artifacts", envvars=notify_config)
    assert result.outcome == "succeeded"
    entries = [json.loads(line) for line in (tmp_path / "artifacts" / result.run_id / "notifications.jsonl")
               .read_text().splitlines()]
    failed = [entry for entry in entries if entry["status"] == "failed"]
    assert {entry["target"] for entry in failed} == {"unreachable"}
    assert {entry["event"] for entry in failed} >= {"start", "end"}
    assert any("notification to unreachable could not be delivered" in warning for warning in result.warnings)
    report = load_report(result.run_id, tmp_path / "artifacts")
    assert len(report["notifications"]) == len(entries)


def test_hotfix_through_dispatcher(tmp_path, notify_config):
    result = run_playbook("playbooks/rollback.yml", LOCAL_INVENTORY, {"rollback_issue": "minor-ui-issues"},
                          artifacts_root=tmp_path / "artifacts", envvars=notify_config)
    assert result.outcome == "succeeded", result.error
    completed = result.facts["promptlib_rollback_completed"]["localhost"]
    assert completed["rollback"] is False
    assert "hotfix" in completed["reason"]
    assert not [step for step in result.steps if step.changed]
    report = load_report(result.run_id, tmp_path / "artifacts")
    assert report["decision"]["rollback_type"] == "Hotfix"
    markdown = (tmp_path / "artifacts" / result.run_id / "report.md").read_text()
    assert "No rollback: Minor UI issues" in markdown


def test_refused_run_notifies_refusal(tmp_path, notify_config):
    result = run_playbook("playbooks/rollback.yml", LOCAL_INVENTORY, {"rollback_issue": "performance-degradation"},
                          artifacts_root=tmp_path / "artifacts", envvars=notify_config)
    assert result.outcome == "refused"
    assert "The gradual rollback needs an approval from product-manager" in result.refused_reason
    end = by_path("/json")[-1]
    assert end["event"] == "end"
    assert end["outcome"] == "refused"
    assert "product-manager" in end["outcome_detail"]
    report = load_report(result.run_id, tmp_path / "artifacts")
    assert report["outcome"] == "refused"


def test_other_playbooks_stay_quiet(tmp_path, notify_config):
    playbook = tmp_path / "diagnose-quick.yml"
    playbook.write_text(SLOW_ROLLBACK.replace("seconds: 3", "seconds: 1"), encoding="utf-8")
    result = run_playbook(playbook, LOCAL_INVENTORY, artifacts_root=tmp_path / "artifacts", envvars=notify_config)
    assert result.outcome == "succeeded"
    assert Receiver.received == []


def test_invalid_targets_skipped_valid_notified(tmp_path, receiver, monkeypatch):
    monkeypatch.delenv("PROMPTLIB_UNSET_WEBHOOK", raising=False)
    config = tmp_path / "notify-bad.yml"
    config.write_text(
        f"""
targets:
  - name: ftp-hook
    url: ftp://127.0.0.1/hook
  - name: file-hook
    url: file:///tmp/hook
  - name: env-hook
    url_env: PROMPTLIB_UNSET_WEBHOOK
  - name: teams-hook
    format: teams
    url: {receiver}/teams
  - name: good-hook
    url: {receiver}/good
""",
        encoding="utf-8",
    )
    playbook = tmp_path / "rollback-slow.yml"
    playbook.write_text(SLOW_ROLLBACK.replace("seconds: 3", "seconds: 1"), encoding="utf-8")
    result = run_playbook(playbook, LOCAL_INVENTORY, {"rollback_issue": "minor-ui-issues"},
                          artifacts_root=tmp_path / "artifacts", envvars={"PROMPTLIB_NOTIFY_CONFIG": str(config)})
    assert result.outcome == "succeeded", result.error
    assert [body["event"] for body in by_path("/good")] == ["start", "end"]
    assert by_path("/teams") == []
    run_dir = tmp_path / "artifacts" / result.run_id
    entries = [json.loads(line) for line in (run_dir / "notifications.jsonl").read_text().splitlines()]
    skipped = {entry["target"]: entry["error"] for entry in entries if entry["status"] == "skipped"}
    assert set(skipped) == {"ftp-hook", "file-hook", "env-hook", "teams-hook"}
    assert "scheme 'file'" in skipped["file-hook"]
    assert "PROMPTLIB_UNSET_WEBHOOK, which is not set" in skipped["env-hook"]
    assert "format 'teams' is invalid" in skipped["teams-hook"]
    assert sorted(warning for warning in result.warnings if "is skipped" in warning) == sorted(skipped.values())
    markdown = (run_dir / "report.md").read_text()
    assert "Skipped by the notification configuration:" in markdown
    assert "The notification target teams-hook" in markdown


def test_missing_config_reported(tmp_path):
    playbook = tmp_path / "rollback-quick.yml"
    playbook.write_text(SLOW_ROLLBACK.replace("seconds: 3", "seconds: 1"), encoding="utf-8")
    missing = tmp_path / "none.yml"
    result = run_playbook(playbook, LOCAL_INVENTORY, {"rollback_issue": "minor-ui-issues"},
                          artifacts_root=tmp_path / "artifacts", envvars={"PROMPTLIB_NOTIFY_CONFIG": str(missing)})
    assert result.outcome == "succeeded", result.error
    markdown = (tmp_path / "artifacts" / result.run_id / "report.md").read_text()
    assert f"The notification configuration {missing} cannot be read" in markdown
    assert any(warning.startswith(f"The notification configuration {missing} cannot be read")
               for warning in result.warnings)
