"""Run ids, timestamps and the JSON form of results."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from promptlib_rollback.results import DrillResult, RunResult, StepResult, format_utc, normalize_timestamp
from promptlib_rollback.report import RUN_ID_PATTERN
from promptlib_rollback.runner import new_run_id


def make_step(status: str = "failed") -> StepResult:
    return StepResult(
        host="web1",
        role="switch",
        task="Start pm2",
        status=status,
        changed=False,
        start="2025-01-01T12:00:01.500000Z",
        end="2025-01-01T12:00:02.750000Z",
        duration_seconds=1.25,
        message="pm2 start failed",
    )


def make_run(outcome: str = "failed") -> RunResult:
    step = make_step()
    return RunResult(
        run_id="20250101T120000Z-1a2b3c4d",
        procedure="full",
        outcome=outcome,
        started_at="2025-01-01T12:00:00.000000Z",
        ended_at="2025-01-01T12:00:05.000000Z",
        duration_seconds=5.0,
        steps=[make_step("ok"), step],
        stats={"failures": {"web1": 1}, "processed": {"web1": 1}},
        facts={"promptlib_rollback_refused": {}},
        failed_step=step,
        refused_reason=None,
        artifacts_dir="/tmp/artifacts/20250101T120000Z-1a2b3c4d",
        rc=2,
        runner_status="failed",
        error="Run failed on web1.",
    )


def test_run_id_format():
    run_id = new_run_id(datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc))
    assert RUN_ID_PATTERN.match(run_id)
    assert run_id.startswith("20250304T050607Z-")


def test_run_id_uses_utc():
    local = datetime(2025, 3, 4, 7, 6, 7, tzinfo=timezone(timedelta(hours=2)))
    assert new_run_id(local).startswith("20250304T050607Z-")


def test_run_ids_differ():
    assert len({new_run_id() for _attempt in range(50)}) == 50


def test_run_result_json_round_trip():
    original = make_run()
    restored = RunResult.from_json(original.to_json())
    assert restored == original
    assert isinstance(restored.failed_step, StepResult)
    assert isinstance(restored.steps[0], StepResult)


def test_run_result_json_is_plain():
    data = json.loads(make_run().to_json())
    assert data["outcome"] == "failed"
    assert data["failed_step"]["task"] == "Start pm2"
    assert data["steps"][1]["status"] == "failed"


def test_round_trip_without_failed_step():
    original = make_run("succeeded")
    original.failed_step = None
    assert RunResult.from_json(original.to_json()) == original


def test_drill_result_lists_rollback_steps():
    rollback = make_run("succeeded")
    drill = DrillResult(
        scenario="app-failure",
        outcome="succeeded",
        ttr_seconds=5.0,
        rollback=rollback,
        setup=make_run("succeeded"),
        container="promptlib-drill-app-failure",
        artifacts_dir="/tmp/artifacts/drill",
    )
    data = json.loads(drill.to_json())
    for key in ("outcome", "ttr_seconds", "steps", "artifacts_dir", "scenario"):
        assert key in data
    assert data["steps"] == data["rollback"]["steps"]


def test_format_utc_naive_is_utc():
    assert format_utc(datetime(2025, 1, 1, 12, 0, 0)) == "2025-01-01T12:00:00.000000Z"


def test_format_utc_converts_offset():
    moment = datetime(2025, 1, 1, 14, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_utc(moment) == "2025-01-01T12:00:00.000000Z"


def test_normalize_timestamp_cases():
    assert normalize_timestamp("2025-01-01T12:00:01.5+00:00") == "2025-01-01T12:00:01.500000Z"
    assert normalize_timestamp("2025-01-01T12:00:01Z") == "2025-01-01T12:00:01.000000Z"
    assert normalize_timestamp(None) is None
    assert normalize_timestamp("") is None
    assert normalize_timestamp("yesterday") == "yesterday"


def test_json_has_format_version():
    data = json.loads(make_run().to_json())
    assert data["format_version"] == 1
    assert list(data)[0] == "format_version"


def test_cancelled_round_trip():
    original = make_run("cancelled")
    original.failed_step = None
    original.cancelled_step = make_step("cancelled")
    original.check_mode = True
    restored = RunResult.from_json(original.to_json())
    assert restored == original
    assert isinstance(restored.cancelled_step, StepResult)


def test_from_dict_ignores_unknown_keys():
    data = make_run().to_dict()
    data["added_in_a_later_version"] = {"x": 1}
    data["steps"][0]["added_later"] = True
    assert RunResult.from_dict(data) == make_run()


def test_drill_result_round_trip():
    drill = DrillResult(
        scenario="app-failure",
        outcome="succeeded",
        ttr_seconds=5.0,
        rollback=make_run("succeeded"),
        setup=make_run("succeeded"),
        container="pl-test",
        artifacts_dir="/tmp/artifacts/drill",
    )
    data = json.loads(drill.to_json())
    assert data["format_version"] == 1
    assert data["rollback"]["format_version"] == 1
    assert DrillResult.from_json(drill.to_json()) == drill
