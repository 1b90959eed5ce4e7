"""Outcome derivation from event streams shaped like ansible-runner 2.4 events."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from promptlib_rollback.events import (
    COMPLETED_KEY,
    MESSAGE_MAX_CHARS,
    REFUSED_KEY,
    RunEventCollector,
    step_from_event,
    warning_from_event,
)

PLAYBOOK = "/srv/collection/playbooks/rollback-full.yml"
_counter = itertools.count(1)


def _event(kind: str, event_data: dict[str, Any]) -> dict[str, Any]:
    data = {"playbook": PLAYBOOK, "playbook_uuid": "b2202835-ffd1-4103-95d1-972e6c7a7ee3", **event_data}
    return {
        "uuid": "bb28b8b0-1456-4310-9d47-a64da374bca8",
        "counter": next(_counter),
        "stdout": "",
        "start_line": 0,
        "end_line": 0,
        "runner_ident": "20250101T120000Z-1a2b3c4d",
        "event": kind,
        "pid": 21967,
        "created": "2025-01-01T12:00:01.000000+00:00",
        "event_data": data,
    }


def task_event(
    kind: str,
    host: str,
    task: str,
    res: dict[str, Any] | None = None,
    *,
    role: str | None = None,
    ignore_errors: bool | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "play": "Roll back",
        "play_pattern": "prompt_library",
        "task": task,
        "task_action": "ansible.builtin.command",
        "resolved_action": "ansible.builtin.command",
        "task_path": f"{PLAYBOOK}:10",
        "host": host,
        "remote_addr": host,
        "res": {"_ansible_no_log": False, "changed": False, **(res or {})},
        "start": "2025-01-01T12:00:01.500000+00:00",
        "end": "2025-01-01T12:00:02.750000+00:00",
        "duration": 1.25,
        "event_loop": None,
    }
    if role is not None:
        data["role"] = role
    if kind == "runner_on_failed":
        data["ignore_errors"] = ignore_errors
    return _event(kind, data)


def stats_event(
    hosts: list[str],
    *,
    failures: dict[str, int] | None = None,
    dark: dict[str, int] | None = None,
    rescued: dict[str, int] | None = None,
    artifact_data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return _event(
        "playbook_on_stats",
        {
            "changed": {},
            "dark": dark or {},
            "failures": failures or {},
            "ignored": {},
            "ok": {host: 1 for host in hosts},
            "processed": {host: 1 for host in hosts},
            "rescued": rescued or {},
            "skipped": {},
            "artifact_data": artifact_data or {},
        },
    )


def completed(*hosts: str) -> dict[str, Any]:
    return {COMPLETED_KEY: {host: {"release": "previous-stable"} for host in hosts}}


def collect(events: list[dict[str, Any]]) -> RunEventCollector:
    collector = RunEventCollector()
    for event in events:
        assert collector.handle(event) is True
    return collector


def test_succeeded_when_every_host_completed():
    collector = collect(
        [
            _event("playbook_on_start", {}),
            task_event("runner_on_ok", "web1", "Stop pm2", {"changed": True}, role="switch"),
            task_event("runner_on_ok", "web2", "Stop pm2", {"changed": False}, role="switch"),
            stats_event(["web1", "web2"], artifact_data=completed("web1", "web2")),
        ]
    )
    decision = collector.outcome(rc=0, runner_status="successful")
    assert decision.outcome == "succeeded"
    assert decision.failed_step is None
    assert decision.error is None
    assert [step.status for step in collector.steps] == ["changed", "ok"]
    assert collector.steps[0].role == "switch"
    assert collector.facts == completed("web1", "web2")


def test_failed_task_gives_failed_outcome():
    collector = collect(
        [
            task_event("runner_on_ok", "web1", "Check release"),
            task_event("runner_on_failed", "web1", "Start pm2", {"msg": "pm2 start failed"}, role="switch"),
            stats_event(["web1"], failures={"web1": 1}),
        ]
    )
    decision = collector.outcome(rc=2, runner_status="failed")
    assert decision.outcome == "failed"
    assert decision.failed_step is not None
    assert decision.failed_step.task == "Start pm2"
    assert decision.failed_step.status == "failed"
    assert decision.failed_step.message == "pm2 start failed"
    assert "web1" in decision.error


def test_refused_via_artifact_data():
    refused = {REFUSED_KEY: {"web1": "pre-deployment backup not found", "web2": "lock held"}}
    collector = collect(
        [
            task_event("runner_on_ok", "web1", "Record refusal"),
            task_event("runner_on_failed", "web1", "Stop when preflight failed", {"msg": "Preflight failed"}),
            stats_event(["web1", "web2"], failures={"web1": 1, "web2": 1}, artifact_data=refused),
        ]
    )
    decision = collector.outcome(rc=2, runner_status="failed")
    assert decision.outcome == "refused"
    assert decision.refused_reason == "web1: pre-deployment backup not found; web2: lock held"


def test_empty_refused_dict_is_not_refusal():
    collector = collect(
        [stats_event(["web1"], artifact_data={REFUSED_KEY: {}, **completed("web1")})]
    )
    assert collector.outcome(rc=0, runner_status="successful").outcome == "succeeded"


def test_rescued_without_completion_fails():
    collector = collect(
        [
            task_event("runner_on_failed", "web1", "Restore database", {"msg": "pg_restore failed"}),
            task_event("runner_on_ok", "web1", "Log the restore failure"),
            stats_event(["web1"], rescued={"web1": 1}),
        ]
    )
    decision = collector.outcome(rc=0, runner_status="successful")
    assert decision.outcome == "failed"
    assert collector.steps[0].status == "rescued"
    assert decision.failed_step is collector.steps[0]
    assert COMPLETED_KEY in decision.error


def test_rescued_with_completion_succeeds():
    collector = collect(
        [
            task_event("runner_on_failed", "web1", "Try fast path", {"msg": "no staged release"}),
            task_event("runner_on_ok", "web1", "Take slow path", {"changed": True}),
            stats_event(["web1"], rescued={"web1": 1}, artifact_data=completed("web1")),
        ]
    )
    assert collector.outcome(rc=0, runner_status="successful").outcome == "succeeded"
    assert collector.steps[0].status == "rescued"


def test_rescued_then_unhandled_failure():
    collector = collect(
        [
            task_event("runner_on_failed", "web1", "Restore database", {"msg": "first"}),
            task_event("runner_on_failed", "web1", "Restore from older backup", {"msg": "second"}),
            stats_event(["web1"], failures={"web1": 1}, rescued={"web1": 1}),
        ]
    )
    decision = collector.outcome(rc=2, runner_status="failed")
    assert [step.status for step in collector.steps] == ["rescued", "failed"]
    assert decision.failed_step is collector.steps[1]


def test_no_hosts_matched():
    collector = collect(
        [
            _event("playbook_on_play_start", {"play": "Roll back", "play_pattern": "nomatch"}),
            _event("playbook_on_no_hosts_matched", {"play": "Roll back", "play_pattern": "nomatch"}),
            stats_event([]),
        ]
    )
    assert collector.no_hosts_matched is True
    assert collector.outcome(rc=0, runner_status="successful").outcome == "no_hosts"


def test_unmatched_play_beside_processed_hosts():
    collector = collect(
        [
            task_event("runner_on_ok", "web1", "Switch release", {"changed": True}),
            _event("playbook_on_no_hosts_matched", {"play": "Notify", "play_pattern": "notifiers"}),
            stats_event(["web1"], artifact_data=completed("web1")),
        ]
    )
    assert collector.outcome(rc=0, runner_status="successful").outcome == "succeeded"


def test_missing_stats_is_failure():
    collector = collect([_event("playbook_on_start", {})])
    decision = collector.outcome(rc=4, runner_status="failed")
    assert decision.outcome == "failed"
    assert "rc 4" in decision.error


def test_unreachable_host_fails():
    collector = collect(
        [
            task_event(
                "runner_on_unreachable", "web2", "Check release", {"msg": "Failed to connect", "unreachable": True}
            ),
            task_event("runner_on_ok", "web1", "Check release"),
            stats_event(["web1", "web2"], dark={"web2": 1}, artifact_data=completed("web1")),
        ]
    )
    decision = collector.outcome(rc=4, runner_status="failed")
    assert decision.outcome == "failed"
    assert decision.failed_step.status == "unreachable"
    assert "unreachable: web2" in decision.error


def test_host_missing_from_completed_fails():
    collector = collect(
        [
            task_event("runner_on_ok", "web1", "Validate"),
            task_event("runner_on_ok", "web2", "Validate"),
            stats_event(["web1", "web2"], artifact_data=completed("web1")),
        ]
    )
    decision = collector.outcome(rc=0, runner_status="successful")
    assert decision.outcome == "failed"
    assert decision.failed_step is None
    assert decision.error.startswith("web2 did not report")


def test_ignored_failure_keeps_success():
    collector = collect(
        [
            task_event("runner_on_failed", "web1", "Stop analytics", {"msg": "not loaded"}, ignore_errors=True),
            stats_event(["web1"], artifact_data=completed("web1")),
        ]
    )
    assert collector.steps[0].status == "ignored"
    assert collector.outcome(rc=0, runner_status="successful").outcome == "succeeded"


@pytest.mark.parametrize(
    ("rc", "runner_status"),
    [(2, "failed"), (0, "timeout"), (None, "canceled")],
)
def test_completed_run_with_bad_exit_fails(rc, runner_status):
    collector = collect([stats_event(["web1"], artifact_data=completed("web1"))])
    assert collector.outcome(rc=rc, runner_status=runner_status).outcome == "failed"


def test_step_fields_from_event():
    step = step_from_event(
        task_event("runner_on_ok", "web1", "Switch release", {"changed": True, "msg": "switched"}, role="switch")
    )
    assert step.host == "web1"
    assert step.role == "switch"
    assert step.task == "Switch release"
    assert step.status == "changed"
    assert step.changed is True
    assert step.start == "2025-01-01T12:00:01.500000Z"
    assert step.end == "2025-01-01T12:00:02.750000Z"
    assert step.duration_seconds == 1.25
    assert step.message == "switched"


def test_step_ignores_other_events():
    assert step_from_event(_event("playbook_on_task_start", {"task": "x"})) is None
    assert step_from_event(_event("runner_item_on_ok", {"host": "web1", "task": "x"})) is None


def test_failed_message_has_stderr_tail():
    stderr = "line\n" * 200 + "FATAL: database is locked"
    step = step_from_event(
        task_event("runner_on_failed", "web1", "Restore", {"msg": "non-zero return code", "stderr": stderr})
    )
    assert step.message.startswith("non-zero return code: ")
    assert step.message.endswith("FATAL: database is locked")
    assert len(step.message) <= MESSAGE_MAX_CHARS


def test_long_message_truncated():
    step = step_from_event(task_event("runner_on_failed", "web1", "Restore", {"msg": "x" * 2000}))
    assert len(step.message) == MESSAGE_MAX_CHARS
    assert step.message.endswith("...")


def test_skipped_message_is_skip_reason():
    step = step_from_event(
        task_event("runner_on_skipped", "web1", "Restore database", {"skip_reason": "Conditional result was False"})
    )
    assert step.status == "skipped"
    assert step.message == "Conditional result was False"


def test_callback_receives_steps_in_order():
    received = []
    collector = RunEventCollector(received.append)
    collector.handle(task_event("runner_on_ok", "web1", "First"))
    collector.handle(task_event("runner_on_ok", "web1", "Second"))
    assert [step.task for step in received] == ["First", "Second"]


def test_callback_error_does_not_stop_collection():
    def broken(step):
        raise RuntimeError("display closed")

    collector = RunEventCollector(broken)
    assert collector.handle(task_event("runner_on_ok", "web1", "First")) is True
    assert len(collector.steps) == 1


def test_summary_stats_drop_artifact_data():
    collector = collect([stats_event(["web1"], artifact_data=completed("web1"))])
    summary = collector.summary_stats()
    assert "artifact_data" not in summary
    assert summary["processed"] == {"web1": 1}


def test_no_log_failure_message():
    censored = "the output has been hidden due to the fact that 'no_log: true' was specified for this result"
    step = step_from_event(task_event("runner_on_failed", "web1", "Check token", {"censored": censored}))
    assert step.message == censored


def start_event(host: str, task: str, task_uuid: str, *, role: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"host": host, "task": task, "task_uuid": task_uuid}
    if role is not None:
        data["role"] = role
    return _event("runner_on_start", data)


def finish_event(host: str, task: str, task_uuid: str) -> dict[str, Any]:
    event = task_event("runner_on_ok", host, task)
    event["event_data"]["task_uuid"] = task_uuid
    return event


def test_cancel_before_recap_is_cancelled():
    collector = collect([task_event("runner_on_ok", "web1", "Check release")])
    decision = collector.outcome(rc=254, runner_status="canceled")
    assert decision.outcome == "cancelled"
    assert "Run the procedure again" in decision.error


def test_failed_without_recap_not_cancelled():
    collector = collect([task_event("runner_on_ok", "web1", "Check release")])
    assert collector.outcome(rc=2, runner_status="failed").outcome == "failed"


def test_start_callback_receives_task():
    started = []
    collector = RunEventCollector(start_callback=lambda host, role, task: started.append((host, role, task)))
    collector.handle(start_event("web1", "Swap releases", "uuid-1", role="restore_code"))
    assert started == [("web1", "restore_code", "Swap releases")]
    assert collector.steps == []


def test_start_callback_error_does_not_stop_collection():
    def broken(host, role, task):
        raise RuntimeError("display closed")

    collector = RunEventCollector(start_callback=broken)
    assert collector.handle(start_event("web1", "Swap releases", "uuid-1")) is True


def test_unfinished_steps_after_forced_cancel():
    collector = collect(
        [
            start_event("web1", "Stop pm2", "uuid-1"),
            finish_event("web1", "Stop pm2", "uuid-1"),
            start_event("web1", "Restore database", "uuid-2", role="restore_database"),
            start_event("web2", "Restore database", "uuid-2", role="restore_database"),
        ]
    )
    steps = collector.unfinished_steps()
    assert [(step.host, step.task, step.status) for step in steps] == [
        ("web1", "Restore database", "cancelled"),
        ("web2", "Restore database", "cancelled"),
    ]
    assert steps[0].role == "restore_database"
    assert steps[0].start == "2025-01-01T12:00:01.000000Z"
    assert steps[0].duration_seconds > 0
    assert "may still be running" in steps[0].message


def test_held_steps_use_recent_hosts():
    collector = collect(
        [
            start_event("web1", "Stop pm2", "uuid-1"),
            start_event("web2", "Stop pm2", "uuid-1"),
            finish_event("web1", "Stop pm2", "uuid-1"),
            finish_event("web2", "Stop pm2", "uuid-1"),
        ]
    )
    assert collector.unfinished_steps() == []
    steps = collector.held_steps("Swap releases", "restore_code")
    assert [(step.host, step.task, step.role, step.status) for step in steps] == [
        ("web1", "Swap releases", "restore_code", "cancelled"),
        ("web2", "Swap releases", "restore_code", "cancelled"),
    ]
    assert steps[0].duration_seconds == 0.0
    assert steps[0].message == "The run was cancelled before this task started on web1."


def test_held_steps_before_any_task():
    steps = RunEventCollector().held_steps("Gathering Facts", None)
    assert [(step.host, step.task) for step in steps] == [("", "Gathering Facts")]
    assert steps[0].message == "The run was cancelled before this task started."


# A warning as ansible-runner 2.4 reports it: wrapped at 80 columns, each line colored.
WRAPPED_WARNING = (
    "\x1b[1;35m[WARNING]: The start notification to ops could not be delivered ([Errno 111]\x1b[0m\r\n"
    "\x1b[1;35mConnection refused); the rollback goes on.\x1b[0m"
)


def test_warning_joined_to_one_line():
    event = dict(_event("warning", {"warning": True}), stdout=WRAPPED_WARNING)
    assert warning_from_event(event) == (
        "The start notification to ops could not be delivered ([Errno 111] Connection refused); the rollback goes on."
    )


def test_warning_ignores_other_events():
    assert warning_from_event(dict(_event("verbose", {}), stdout="[WARNING]: not a warning event")) is None


def test_collector_keeps_warnings_in_order():
    collector = RunEventCollector()
    collector.handle(dict(_event("warning", {"warning": True}), stdout="[WARNING]: first"))
    collector.handle(dict(_event("verbose", {}), stdout="Pausing for 1 seconds"))
    collector.handle(dict(_event("warning", {"warning": True}), stdout="\x1b[1;35m[WARNING]: second\x1b[0m"))
    assert collector.warnings == ["first", "second"]


def test_no_hosts_matched_names_the_pattern():
    collector = RunEventCollector()
    collector.handle(_event("playbook_on_no_hosts_matched", {"play": "Roll back", "play_pattern": "nomatch"}))
    collector.handle(_event("playbook_on_no_hosts_matched", {"play": "Second", "play_pattern": "other"}))
    assert collector.unmatched_pattern == "nomatch"
