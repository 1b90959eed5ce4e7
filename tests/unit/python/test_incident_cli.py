"""The decide, diagnose and report subcommands."""

from __future__ import annotations

import io
import json

import pytest

from promptlib_rollback import cli, incident_cli
from promptlib_rollback.diagnosis import Diagnosis
from promptlib_rollback.results import RunResult


def run_main(argv):
    stdout = io.StringIO()
    code = cli.main(argv, stdout=stdout)
    return code, stdout.getvalue()


def test_decide_prints_row():
    code, output = run_main(["decide", "application-wont-start"])
    assert code == 0
    assert "Rollback type:  Immediate Full" in output
    assert "Decide within:  5 minutes" in output
    assert "playbooks/rollback-full.yml" in output


def test_decide_json_fields():
    code, output = run_main(["decide", "template-validation-failures", "--json"])
    data = json.loads(output)
    assert code == 0
    for key in ("issue_type", "severity", "rollback_type", "max_decision_minutes", "playbook", "authority"):
        assert key in data
    assert data["authority"]["roles"] == ["backend-lead", "product-manager"]


def test_decide_all_rows():
    code, output = run_main(["decide", "--json"])
    assert code == 0
    assert len(json.loads(output)) == 7


def test_decide_hotfix_says_no_rollback():
    unused, output = run_main(["decide", "minor-ui-issues"])
    assert "No rollback:" in output


def test_decide_unknown_exits_2(capsys):
    code, unused = run_main(["decide", "disk-full"])
    assert code == 2
    assert "disk-full" in capsys.readouterr().err


def test_decide_empty_type_exits_2(capsys):
    code, output = run_main(["decide", ""])
    assert code == 2
    assert output == ""
    assert "application-wont-start" in capsys.readouterr().err


def make_diagnosis(issue_type, outcome="succeeded"):
    run = RunResult(run_id="20250101T120000Z-1a2b3c4d", procedure="diagnose", outcome=outcome,
                    started_at="2025-01-01T12:00:00.000000Z", ended_at="2025-01-01T12:00:10.000000Z",
                    duration_seconds=10.0, artifacts_dir="/tmp/a")
    findings = [{"issue_type": issue_type, "issue": "x", "severity": "critical", "evidence": ["pm2 errored"]}]
    hosts = {"web1": {"issue_type": issue_type, "findings": findings if issue_type else [],
                      "measurements": {"application-wont-start": "GET /health answered 200"}}}
    return Diagnosis(run=run, issue_type=issue_type, hosts=hosts)


@pytest.mark.parametrize("issue_type, outcome, code", [
    ("application-wont-start", "succeeded", 6),
    (None, "succeeded", 0),
    (None, "failed", 1),
    (None, "no_hosts", 4),
])
def test_diagnose_exit_codes(monkeypatch, issue_type, outcome, code):
    monkeypatch.setattr(incident_cli, "diagnose", lambda *args, **kwargs: make_diagnosis(issue_type, outcome))
    assert run_main(["diagnose", "-i", "web1,"])[0] == code


def test_diagnose_prints_evidence(monkeypatch):
    monkeypatch.setattr(incident_cli, "diagnose", lambda *args, **kwargs: make_diagnosis("application-wont-start"))
    unused, output = run_main(["diagnose", "-i", "web1,"])
    assert "Issue type: application-wont-start" in output
    assert "- pm2 errored" in output
    assert "rollback.yml -i web1, -e rollback_issue=application-wont-start" in output


def test_diagnose_passes_baseline_flag(monkeypatch):
    calls = []

    def fake(inventory, extravars, **options):
        calls.append((inventory, extravars, options))
        return make_diagnosis(None)

    monkeypatch.setattr(incident_cli, "diagnose", fake)
    run_main(["diagnose", "-i", "web1,", "--record-baseline", "-e", "diagnose_response_samples=3"])
    assert calls[0][0] == "web1,"
    assert calls[0][1] == {"diagnose_response_samples": "3"}
    assert calls[0][2]["record_baseline"] is True


def test_report_prints_markdown(monkeypatch):
    stored = {"run_id": "20250101T120000Z-1a2b3c4d", "outcome": "succeeded", "procedure": "full",
              "started_at": "2025-01-01T12:00:00.000000Z", "ended_at": "2025-01-01T12:00:10.000000Z",
              "duration_seconds": 10.0, "hosts": {}, "timeline": [], "decision": None}
    monkeypatch.setattr(incident_cli, "load_report", lambda run_id, root: stored)
    code, output = run_main(["report", "20250101T120000Z-1a2b3c4d"])
    assert code == 0
    assert output.startswith("# Rollback report 20250101T120000Z-1a2b3c4d")
    code, output = run_main(["report", "20250101T120000Z-1a2b3c4d", "--json"])
    assert json.loads(output)["outcome"] == "succeeded"


def test_report_unknown_run_exits_2(tmp_path, capsys):
    code, unused = run_main(["report", "20250101T120000Z-1a2b3c4d", "--artifacts-dir", str(tmp_path)])
    assert code == 2
    assert "not found" in capsys.readouterr().err
