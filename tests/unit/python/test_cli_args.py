"""Argument parsing, output and exit codes of the promptlib-rollback command."""

from __future__ import annotations

import io
import json

import pytest

from promptlib_rollback import api, cli, incident_cli
from promptlib_rollback.errors import ConfigurationError, DrillError, RollbackError
from promptlib_rollback.results import DrillResult, RunResult, StepEvent, StepResult


def make_step(status: str) -> StepResult:
    return StepResult(
        host="web1",
        role="switch",
        task="Start pm2",
        status=status,
        changed=status == "changed",
        start="2025-01-01T12:00:01.000000Z",
        end="2025-01-01T12:00:02.000000Z",
        duration_seconds=1.0,
        message="pm2 start failed" if status == "failed" else "",
    )


def make_run(outcome: str) -> RunResult:
    failed = make_step("failed") if outcome == "failed" else None
    return RunResult(
        run_id="20250101T120000Z-1a2b3c4d",
        procedure="full",
        outcome=outcome,
        started_at="2025-01-01T12:00:00.000000Z",
        ended_at="2025-01-01T12:00:42.000000Z",
        duration_seconds=42.0,
        steps=[make_step("changed")] + ([failed] if failed else []),
        failed_step=failed,
        refused_reason="web1: backup missing" if outcome == "refused" else None,
        artifacts_dir="/tmp/artifacts/20250101T120000Z-1a2b3c4d",
    )


def finished_event(result: RunResult, step: StepResult) -> StepEvent:
    return StepEvent(
        kind="step_finished",
        run_id=result.run_id,
        procedure=result.procedure,
        host=step.host,
        role=step.role,
        task=step.task,
        elapsed_seconds=1.0,
        step=step,
    )


def run_main(argv: list[str]) -> tuple[int, str]:
    stdout = io.StringIO()
    code = cli.main(argv, stdout=stdout)
    return code, stdout.getvalue()


@pytest.fixture
def fake_run_procedure(monkeypatch):
    calls = []

    def install(outcome: str = "succeeded", error: Exception | None = None):
        def fake(procedure, inventory, extravars=None, **options):
            calls.append({"procedure": procedure, "inventory": inventory, "extravars": extravars, **options})
            if error is not None:
                raise error
            result = make_run(outcome)
            if options.get("on_event"):
                for step in result.steps:
                    options["on_event"](finished_event(result, step))
            return result

        monkeypatch.setattr(api, "run", fake)
        return calls

    return install


def test_parse_run_arguments():
    args = cli.build_parser().parse_args(
        ["run", "full", "-i", "hosts.yml", "-e", "release=1.4.2", "-e", "note=a=b", "--check", "--json", "-vv"]
    )
    assert args.command == "run"
    assert args.procedure == "full"
    assert args.inventory == ["hosts.yml"]
    assert args.extravars == [("release", "1.4.2"), ("note", "a=b")]
    assert args.check is True
    assert args.json is True
    assert args.verbose == 2


def test_parse_drill_arguments():
    args = cli.build_parser().parse_args(
        ["drill", "app-failure", "--keep", "--artifacts-dir", "/tmp/out", "--rebuild-image"]
    )
    assert args.scenario == "app-failure"
    assert args.keep is True
    assert args.artifacts_dir == "/tmp/out"
    assert args.rebuild_image is True
    assert args.json is False


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["run", "full"],
        ["run", "no-such-procedure", "-i", "hosts.yml"],
        ["run", "full", "-i", "hosts.yml", "-e", "novalue"],
        ["run", "full", "-i", "hosts.yml", "-e", "=value"],
        ["run", "full", "-i", "hosts.yml", "-e", "admin_token=abc"],
        ["drill", "no-such-scenario"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(argv)
    assert raised.value.code == 2


@pytest.mark.parametrize("text, value", [
    ("rollback_approved_by='Kim Example'", "Kim Example"),
    ('rollback_approved_by="Kim Example"', "Kim Example"),
    ("rollback_approved_by=Kim's", "Kim's"),
    ("rollback_approved_by='", "'"),
])
def test_extravar_quotes_removed(text, value):
    assert cli.parse_extravar(text) == ("rollback_approved_by", value)


def test_secret_extravar_message(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "full", "-i", "hosts.yml", "-e", "db_password=abc"])
    assert "ADMIN_TOKEN" in capsys.readouterr().err


def test_help_lists_exit_codes(capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(["--help"])
    assert raised.value.code == 0
    help_text = capsys.readouterr().out
    expected = [
        "0  the rollback succeeded",
        "1  the rollback failed",
        "2  usage error",
        "3  preflight refused",
        "4  no host",
    ]
    for line in expected:
        assert line in help_text


@pytest.mark.parametrize(
    ("outcome", "code"),
    [("succeeded", 0), ("failed", 1), ("refused", 3), ("no_hosts", 4), ("unexpected", 1)],
)
def test_exit_code_mapping(outcome, code):
    assert cli.exit_code_for(outcome) == code


@pytest.mark.parametrize(
    ("outcome", "code"),
    [("succeeded", 0), ("failed", 1), ("refused", 3), ("no_hosts", 4)],
)
def test_run_exit_code_from_outcome(fake_run_procedure, outcome, code):
    fake_run_procedure(outcome)
    exit_code, output = run_main(["run", "full", "-i", "hosts.yml", "--json"])
    assert exit_code == code
    assert json.loads(output)["outcome"] == outcome


def test_run_json_is_one_object(fake_run_procedure):
    fake_run_procedure("failed")
    output = run_main(["run", "full", "-i", "hosts.yml", "--json"])[1]
    data = json.loads(output)
    assert data["failed_step"]["task"] == "Start pm2"
    assert data["artifacts_dir"].endswith("20250101T120000Z-1a2b3c4d")


def test_run_passes_options(fake_run_procedure):
    calls = fake_run_procedure()
    run_main(["run", "full", "-i", "a.yml", "-i", "b.yml", "-e", "release=1.4.2", "--check", "-v", "--json"])
    call = calls[0]
    assert call["procedure"] == "full"
    assert call["inventory"] == ["a.yml", "b.yml"]
    assert call["extravars"] == {"release": "1.4.2"}
    assert call["check"] is True
    assert call["verbosity"] == 1
    assert call["keep_runs"] is None
    assert call["artifacts_root"] is None


def test_run_human_output(fake_run_procedure):
    fake_run_procedure("failed")
    exit_code, output = run_main(["run", "full", "-i", "hosts.yml"])
    lines = output.splitlines()
    assert exit_code == 1
    assert lines[0].endswith("] web1  switch : Start pm2  changed")
    assert lines[1].endswith("] web1  switch : Start pm2  failed: pm2 start failed")
    assert "Outcome:" in output
    assert "Failed step:" in output
    assert "Artifacts:" in output


def test_run_human_success_shows_recovery_time(fake_run_procedure):
    fake_run_procedure("succeeded")
    output = run_main(["run", "full", "-i", "hosts.yml"])[1]
    assert "Time to recover: 42.0s" in output


def test_configuration_error_exit_2(fake_run_procedure):
    fake_run_procedure(error=ConfigurationError("Inventory 'x' not found."))
    exit_code, output = run_main(["run", "full", "-i", "x", "--json"])
    assert exit_code == 2
    assert json.loads(output) == {"outcome": "error", "error": "Inventory 'x' not found.", "artifacts_dir": None}


def test_rollback_error_exit_1(fake_run_procedure, capsys):
    fake_run_procedure(error=RollbackError("ansible-runner could not run"))
    exit_code, output = run_main(["run", "full", "-i", "x"])
    assert exit_code == 1
    assert output == ""
    assert "ansible-runner could not run" in capsys.readouterr().err


def test_format_step_line():
    assert cli.format_step(make_step("changed"), 3.2) == "[   3.2s] web1  switch : Start pm2  changed"


def test_drill_json_output(monkeypatch):
    def fake_drill(scenario, **options):
        rollback = make_run("succeeded")
        return DrillResult(
            scenario=scenario,
            outcome="succeeded",
            ttr_seconds=42.0,
            rollback=rollback,
            setup=make_run("succeeded"),
            container="promptlib-drill-app-failure",
            artifacts_dir="/tmp/artifacts/drill",
        )

    monkeypatch.setattr(api, "run_drill", fake_drill)
    exit_code, output = run_main(["drill", "app-failure", "--json"])
    data = json.loads(output)
    assert exit_code == 0
    assert data["scenario"] == "app-failure"
    assert data["outcome"] == "succeeded"
    assert data["ttr_seconds"] == 42.0
    assert data["steps"][0]["task"] == "Start pm2"
    assert data["artifacts_dir"] == "/tmp/artifacts/drill"


def test_drill_setup_error(monkeypatch):
    setup = make_run("failed")

    def fake_drill(scenario, **options):
        raise DrillError("Drill setup ended with outcome failed", run=setup, artifacts_dir="/tmp/artifacts/drill")

    monkeypatch.setattr(api, "run_drill", fake_drill)
    exit_code, output = run_main(["drill", "app-failure", "--json"])
    data = json.loads(output)
    assert exit_code == 1
    assert data["outcome"] == "error"
    assert data["ttr_seconds"] is None
    assert data["steps"][1]["status"] == "failed"
    assert data["artifacts_dir"] == "/tmp/artifacts/drill"


def test_cancelled_exit_code(fake_run_procedure):
    fake_run_procedure("cancelled")
    exit_code, output = run_main(["run", "full", "-i", "hosts.yml", "--json"])
    assert exit_code == 5
    assert json.loads(output)["outcome"] == "cancelled"


def test_exit_codes_distinct():
    codes = [*cli.EXIT_CODES.values(), cli.EXIT_USAGE, cli.EXIT_INTERRUPTED, incident_cli.EXIT_ISSUE_FOUND]
    assert len(set(codes)) == len(codes)
    assert set(cli.EXIT_CODES) == set(api.OUTCOMES)


def test_run_human_cancelled_summary(fake_run_procedure, monkeypatch):
    def cancelled(procedure, inventory, extravars=None, **options):
        result = make_run("cancelled")
        result.cancelled_step = make_step("cancelled")
        result.cancelled_step.message = "The run was cancelled before this task started on web1."
        return result

    monkeypatch.setattr(api, "run", cancelled)
    exit_code, output = run_main(["run", "full", "-i", "hosts.yml"])
    assert exit_code == 5
    assert "Outcome:" in output
    assert "Cancelled at:" in output
    assert "web1  switch : Start pm2: The run was cancelled before this task started on web1." in output


def with_warnings(procedure, inventory, extravars=None, **options):
    result = make_run("succeeded")
    result.warnings = ["The notification target teams-hook in notify.yml is skipped because its format 'teams' "
                       "is invalid. Use one of slack, json, statuspage.",
                       "2 notifications to ops could not be delivered."]
    return result


def test_run_human_prints_warnings(monkeypatch):
    monkeypatch.setattr(api, "run", with_warnings)
    exit_code, output = run_main(["run", "full", "-i", "hosts.yml"])
    assert exit_code == 0
    lines = output.splitlines()
    assert any(line.startswith("Warning:") and "target teams-hook" in line for line in lines)
    assert any(line.startswith("Warning:") and "2 notifications to ops" in line for line in lines)


def test_run_json_lists_warnings(monkeypatch):
    monkeypatch.setattr(api, "run", with_warnings)
    exit_code, output = run_main(["run", "full", "-i", "hosts.yml", "--json"])
    assert exit_code == 0
    assert json.loads(output)["warnings"][1] == "2 notifications to ops could not be delivered."


def test_run_passes_keep_runs(fake_run_procedure):
    calls = fake_run_procedure()
    run_main(["run", "full", "-i", "a.yml", "--keep-runs", "3", "--artifacts-dir", "/tmp/out", "--json"])
    assert calls[0]["keep_runs"] == 3
    assert calls[0]["artifacts_root"] == "/tmp/out"


@pytest.mark.parametrize("value", ["-1", "many"])
def test_keep_runs_invalid(value, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(["run", "full", "-i", "a.yml", "--keep-runs", value])
    assert raised.value.code == 2
    assert value in capsys.readouterr().err


def test_every_option_has_help():
    parser = cli.build_parser()
    subparsers = next(action for action in parser._actions if action.dest == "command")
    assert set(subparsers.choices) == {"run", "drill", "decide", "diagnose", "report"}
    for name, subparser in subparsers.choices.items():
        for action in subparser._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"


def test_keep_runs_help_names_unit(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "number of run folders kept" in help_text
    assert "0 keeps all" in help_text


def test_help_lists_cancelled_exit_code(capsys):
    with pytest.raises(SystemExit):
        cli.main(["drill", "--help"])
    assert "5  run and drill: the run was cancelled" in capsys.readouterr().out


class MarkdownReport:
    def to_markdown(self):
        return "# Rollback report\n\nOutcome: succeeded\n"

    def to_dict(self):
        return {"outcome": "succeeded"}
