"""Incident reports built from a RunResult: decision, timeline, validation, downtime, kept, logs."""

from __future__ import annotations

import json

import pytest

from promptlib_rollback import report
from promptlib_rollback.errors import ConfigurationError
from promptlib_rollback.results import RunResult, StepResult

RUN_ID = "20250101T120000Z-1a2b3c4d"
HOST = "web1"


def step(role, task, start, end, status="ok", changed=False, message=""):
    return StepResult(host=HOST, role=role, task=task, status=status, changed=changed,
                      start=f"2025-01-01T12:00:{start:02d}.000000Z", end=f"2025-01-01T12:00:{end:02d}.000000Z",
                      duration_seconds=float(end - start), message=message)


CHECKS = [
    {"name": "application health", "value": "200 1.4.0", "threshold": "200 1.4.0", "passed": True, "critical": True},
    {"name": "response time", "value": "0.004 s", "threshold": "< 1.0 s", "passed": True, "critical": False},
    {"name": "cache", "value": "application sees healthy; round trip ok", "threshold": "healthy", "passed": True,
     "critical": True},
]

DECISION = {
    "issue_type": "application-wont-start", "issue": "Application won't start", "severity": "critical",
    "rollback_type": "Immediate Full", "procedure": "full", "playbook": "playbooks/rollback-full.yml",
    "max_decision_minutes": 5, "rollback": True, "no_rollback_reason": None,
    "authority": {"name": "Immediate Rollback", "roles": ["devops-lead"], "approval_required": False},
    "approval": {"by": "Ann Lee", "role": "devops-lead", "procedure": "full", "at": "2025-01-01T12:00:00Z"},
    "decided_at": "2025-01-01T12:00:01Z",
}


def make_result(tmp_path, checks=None, outcome="succeeded"):
    checks = CHECKS if checks is None else checks
    run_dir = tmp_path / RUN_ID
    run_dir.mkdir()
    steps = [
        step(None, "Look the issue type up in the decision matrix", 0, 1),
        step("preflight", "Run the preflight checks", 1, 3),
        step("stop_services", "Stop the application under pm2", 10, 12, status="changed", changed=True),
        step("restore_code", "Put the previous stable release in place of current", 12, 14, "changed", True),
        step("validate", "Wait for the application health endpoint", 20, 30),
        step("validate", "Check the template API with the admin token", 30, 31),
    ]
    facts = {
        "promptlib_rollback_decision": {HOST: DECISION},
        "promptlib_rollback_validation": {HOST: checks},
        "promptlib_rollback_kept": {HOST: {"failed_release": "/opt/prompt-library/current-failed-20250101_120000"}},
        "promptlib_rollback_completed": {HOST: {"procedure": "full", "kept": {
            "failed_database": "promptlib_production_failed_20250101_120000"}}},
        "promptlib_rollback_logs": {HOST: {
            "before": {"path": str(run_dir / "logs" / HOST / "before"), "files": ["a", "b"], "missing": []},
            "after": {"path": None, "error": "fetch failed"}}},
    }
    return RunResult(run_id=RUN_ID, procedure="matrix", outcome=outcome, started_at="2025-01-01T12:00:00.000000Z",
                     ended_at="2025-01-01T12:00:40.000000Z", duration_seconds=40.0, steps=steps,
                     stats={"processed": {HOST: 1}}, facts=facts, artifacts_dir=str(run_dir))


def test_report_carries_decision(tmp_path):
    built = report.build_report(make_result(tmp_path))
    assert built["decision"]["issue_type"] == "application-wont-start"
    assert built["approval"]["by"] == "Ann Lee"


def test_report_timeline_has_every_step(tmp_path):
    built = report.build_report(make_result(tmp_path))
    assert len(built["timeline"]) == 6
    assert built["timeline"][2]["start"] == "2025-01-01T12:00:10.000000Z"
    assert built["step_counts"] == {"ok": 4, "changed": 2}


def test_downtime_from_stop_to_health(tmp_path):
    built = report.build_report(make_result(tmp_path))
    downtime = built["hosts"][HOST]["downtime"]
    assert downtime["seconds"] == 20.0
    assert downtime["recovered"] is True
    assert built["downtime_seconds"] == 20.0


def test_downtime_unrecovered_runs_to_end(tmp_path):
    failed = [dict(CHECKS[0], passed=False)]
    downtime = report.build_report(make_result(tmp_path, failed, "failed"))["hosts"][HOST]["downtime"]
    assert downtime["recovered"] is False
    assert downtime["seconds"] == 30.0


FLAG_RESTART = "Start the application again from the ecosystem file when its environment differs"
FLAG_READ = "Read the flags from the running application"


def test_flag_restarts_counted_as_downtime(tmp_path):
    result = make_result(tmp_path)
    result.steps = [
        step("promptlib.rollback.feature_flags", FLAG_RESTART, 5, 7, "changed", True),
        step("promptlib.rollback.feature_flags", FLAG_READ, 7, 9),
        step("promptlib.rollback.feature_flags", FLAG_RESTART, 20, 21, "ok", False),
        step("promptlib.rollback.feature_flags", FLAG_READ, 21, 22),
        step("promptlib.rollback.feature_flags", FLAG_RESTART, 30, 31, "changed", True),
        step("promptlib.rollback.feature_flags", FLAG_READ, 31, 33),
    ]
    downtime = report.build_report(result)["hosts"][HOST]["downtime"]
    assert downtime["seconds"] == 7.0
    assert downtime["recovered"] is True
    assert downtime["basis"].startswith("2 restarts by pm2")


def test_flag_restart_without_answer_runs_to_end(tmp_path):
    result = make_result(tmp_path)
    result.steps = [
        step("promptlib.rollback.feature_flags", FLAG_RESTART, 30, 31, "changed", True),
        step("promptlib.rollback.feature_flags", FLAG_READ, 31, 35, "failed"),
    ]
    downtime = report.build_report(result)["hosts"][HOST]["downtime"]
    assert downtime["seconds"] == 10.0
    assert downtime["recovered"] is False


def test_no_stop_no_downtime(tmp_path):
    result = make_result(tmp_path)
    result.steps = [item for item in result.steps if item.role != "stop_services"]
    assert report.build_report(result)["hosts"][HOST]["downtime"] is None


def test_kept_merges_both_records(tmp_path):
    kept = report.build_report(make_result(tmp_path))["hosts"][HOST]["kept"]
    assert kept == {"failed_release": "/opt/prompt-library/current-failed-20250101_120000",
                    "failed_database": "promptlib_production_failed_20250101_120000"}


def test_notifications_read(tmp_path):
    result = make_result(tmp_path)
    log = tmp_path / RUN_ID / "notifications.jsonl"
    log.write_text(json.dumps({"event": "start", "target": "ops", "status": "delivered"}) + "\nnot json\n")
    assert report.build_report(result)["notifications"] == [{"event": "start", "target": "ops",
                                                             "status": "delivered"}]


def write_log(tmp_path, *entries):
    log = tmp_path / RUN_ID / "notifications.jsonl"
    log.write_text("".join(json.dumps(entry) + "\n" for entry in entries))


SKIPPED_TEAMS = {"event": "config", "target": "teams-hook", "status": "skipped",
                 "error": "The notification target teams-hook in notify.yml is skipped because its format 'teams' "
                          "is invalid. Use one of slack, json, statuspage."}


def test_markdown_lists_skipped_targets(tmp_path):
    result = make_result(tmp_path)
    write_log(tmp_path, SKIPPED_TEAMS, {"time": "2025-01-01T12:00:01Z", "event": "start", "target": "ops",
                                        "status": "delivered", "http_status": 200})
    text = report.render_markdown(report.build_report(result))
    assert "| 2025-01-01T12:00:01Z | start | ops | delivered | 200 |" in text
    assert "Skipped by the notification configuration:" in text
    assert f"- {SKIPPED_TEAMS['error']}" in text
    assert "| config |" not in text


def test_markdown_unreadable_config(tmp_path):
    result = make_result(tmp_path)
    message = "The notification configuration /tmp/none.yml cannot be read: No such file or directory."
    write_log(tmp_path, {"event": "config", "target": None, "status": "skipped", "error": message})
    text = report.render_markdown(report.build_report(result))
    assert "None sent, because of the configuration problems below." in text
    assert f"- {message}" in text


def test_markdown_sections(tmp_path):
    text = report.render_markdown(report.build_report(make_result(tmp_path)))
    assert text.startswith(f"# Rollback report {RUN_ID}")
    assert "| Issue | Application won't start (application-wont-start) |" in text
    assert "Approved by Ann Lee (devops-lead)" in text
    assert "| application health | 200 1.4.0 | 200 1.4.0 | passed | yes |" in text
    assert "Downtime: 20.0 s" in text
    assert "| failed_release | /opt/prompt-library/current-failed-20250101_120000 |" in text
    assert "| after | not preserved: fetch failed |" in text
    assert "| +10.0s | web1 | stop_services : Stop the application under pm2 | changed | 2.0s |" in text


def test_markdown_without_decision(tmp_path):
    result = make_result(tmp_path)
    del result.facts["promptlib_rollback_decision"]
    text = report.render_markdown(report.build_report(result))
    assert "No decision was recorded" in text


def test_direct_run_approval_from_completion(tmp_path):
    result = make_result(tmp_path)
    del result.facts["promptlib_rollback_decision"]
    approval = {"by": "Dana Example", "role": "database-administrator", "at": "2025-01-01T12:00:05Z"}
    result.facts["promptlib_rollback_completed"][HOST]["approval"] = approval
    built = report.build_report(result)
    assert built["approval"] == approval
    text = report.render_markdown(built)
    assert "No decision was recorded" in text
    assert "Approved by Dana Example (database-administrator) at 2025-01-01T12:00:05Z." in text


def test_write_and_load(tmp_path):
    result = make_result(tmp_path)
    json_path, markdown_path = report.write_report(result)
    assert json.loads(json_path.read_text())["run_id"] == RUN_ID
    assert markdown_path.read_text().startswith("# Rollback report")
    assert report.load_report(RUN_ID, tmp_path)["outcome"] == "succeeded"


def test_load_rebuilds_from_result(tmp_path):
    result = make_result(tmp_path)
    drill = tmp_path / "drill-app-failure-x"
    drill.mkdir()
    run_dir = drill / RUN_ID
    (tmp_path / RUN_ID).rename(run_dir)
    (run_dir / "result.json").write_text(result.to_json())
    loaded = report.load_report(RUN_ID, tmp_path)
    assert loaded["artifacts_dir"] == str(run_dir)
    assert (run_dir / "report.md").is_file()


@pytest.mark.parametrize("run_id", ["../etc", "20250101T120000Z", "x" * 26])
def test_malformed_run_id_rejected(tmp_path, run_id):
    with pytest.raises(ConfigurationError) as raised:
        report.find_run_dir(run_id, tmp_path)
    assert "Invalid run id" in str(raised.value)


@pytest.mark.parametrize("given", ["drill-app-failure-20250101T115900Z-0a0b0c0d", "20250101T115900Z-0a0b0c0d"])
def test_drill_id_finds_its_rollback(tmp_path, given):
    drill_dir = tmp_path / "drill-app-failure-20250101T115900Z-0a0b0c0d"
    run_dir = drill_dir / RUN_ID
    run_dir.mkdir(parents=True)
    (run_dir / "result.json").write_text("{}")
    (drill_dir / "drill.json").write_text(json.dumps({"scenario": "app-failure", "rollback": {"run_id": RUN_ID}}))
    assert report.find_run_dir(given, tmp_path) == run_dir


def test_unknown_run_reported(tmp_path):
    with pytest.raises(ConfigurationError) as raised:
        report.find_run_dir(RUN_ID, tmp_path)
    assert "not found" in str(raised.value)


def test_write_failure_only_logged(tmp_path, caplog):
    result = make_result(tmp_path)
    result.artifacts_dir = str(tmp_path / "missing")
    report.write_report_quietly(result)
    assert "could not be written" in caplog.text
