"""Run folders: rotation by count, lookup by run id and loading stored results."""

from __future__ import annotations

import os
import time

import pytest

from promptlib_rollback import artifacts
from promptlib_rollback.errors import ConfigurationError, RunNotFoundError
from promptlib_rollback.results import DrillResult, RunResult


def make_result(run_id: str, outcome: str = "succeeded") -> RunResult:
    return RunResult(
        run_id=run_id,
        procedure="full",
        outcome=outcome,
        started_at="2025-01-01T12:00:00.000000Z",
        ended_at="2025-01-01T12:00:42.000000Z",
        duration_seconds=42.0,
    )


def make_run_folder(root, run_id: str, *, finished: bool = True, prefix: str = ""):
    folder = root / f"{prefix}{run_id}"
    folder.mkdir(parents=True)
    if finished:
        name = artifacts.DRILL_RESULT_FILE if prefix else artifacts.RUN_RESULT_FILE
        if prefix:
            drill = DrillResult(
                scenario="app-failure",
                outcome="succeeded",
                ttr_seconds=42.0,
                rollback=make_result(run_id),
                setup=make_result(run_id),
                container="pl-test",
                artifacts_dir=str(folder),
            )
            (folder / name).write_text(drill.to_json())
        else:
            (folder / name).write_text(make_result(run_id).to_json())
    return folder


def run_id(day: int, suffix: str = "00000000") -> str:
    return f"202501{day:02d}T120000Z-{suffix}"


def test_rotation_keeps_newest(tmp_path):
    for day in range(1, 6):
        make_run_folder(tmp_path, run_id(day))
    removed = artifacts.rotate_artifacts(tmp_path, 2)
    assert sorted(path.name for path in removed) == [run_id(1), run_id(2), run_id(3)]
    assert sorted(path.name for path in tmp_path.iterdir()) == [run_id(4), run_id(5)]


def test_same_second_runs_by_last_change(tmp_path):
    # The random parts sort against the order the runs ran in.
    order = [run_id(1, "ffffffff"), run_id(1, "88888888"), run_id(1, "00000000")]
    for position, name in enumerate(order):
        folder = make_run_folder(tmp_path, name)
        os.utime(folder, ns=(position * 1_000_000, position * 1_000_000))
    assert [folder.name for folder in artifacts.run_folders(tmp_path)] == order
    artifacts.rotate_artifacts(tmp_path, 2)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(order[1:])


def test_rotation_orders_drills_by_run_id(tmp_path):
    make_run_folder(tmp_path, run_id(1))
    make_run_folder(tmp_path, run_id(2), prefix="drill-app-failure-")
    make_run_folder(tmp_path, run_id(3))
    artifacts.rotate_artifacts(tmp_path, 2)
    assert {path.name for path in tmp_path.iterdir()} == {f"drill-app-failure-{run_id(2)}", run_id(3)}


def test_rotation_ignores_other_entries(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "inventory.yml").write_text("all: {}\n")
    make_run_folder(tmp_path, run_id(1))
    make_run_folder(tmp_path, run_id(2))
    artifacts.rotate_artifacts(tmp_path, 1)
    assert {path.name for path in tmp_path.iterdir()} == {"inventory.yml", "notes", run_id(2)}


def test_rotation_zero_keeps_all(tmp_path):
    for day in range(1, 4):
        make_run_folder(tmp_path, run_id(day))
    assert artifacts.rotate_artifacts(tmp_path, 0) == []
    assert len(list(tmp_path.iterdir())) == 3


def test_rotation_spares_recent_unfinished(tmp_path):
    running = make_run_folder(tmp_path, run_id(1), finished=False)
    make_run_folder(tmp_path, run_id(2))
    make_run_folder(tmp_path, run_id(3))
    artifacts.rotate_artifacts(tmp_path, 1)
    assert running.exists()
    assert not (tmp_path / run_id(2)).exists()


def test_rotation_removes_stale_unfinished(tmp_path):
    dead = make_run_folder(tmp_path, run_id(1), finished=False)
    old = time.time() - artifacts.UNFINISHED_GRACE_SECONDS - 60
    os.utime(dead, (old, old))
    make_run_folder(tmp_path, run_id(2))
    artifacts.rotate_artifacts(tmp_path, 1)
    assert not dead.exists()


def test_rotation_missing_root(tmp_path):
    assert artifacts.rotate_artifacts(tmp_path / "none", 3) == []


@pytest.mark.parametrize(("value", "expected"), [(None, artifacts.DEFAULT_KEEP_RUNS), (0, 0), (7, 7)])
def test_keep_runs_argument(monkeypatch, value, expected):
    monkeypatch.delenv(artifacts.KEEP_RUNS_ENV, raising=False)
    assert artifacts.resolve_keep_runs(value) == expected


def test_keep_runs_from_environment(monkeypatch):
    monkeypatch.setenv(artifacts.KEEP_RUNS_ENV, "12")
    assert artifacts.resolve_keep_runs(None) == 12
    assert artifacts.resolve_keep_runs(3) == 3


def test_keep_runs_invalid_environment(monkeypatch):
    monkeypatch.setenv(artifacts.KEEP_RUNS_ENV, "many")
    with pytest.raises(ConfigurationError) as raised:
        artifacts.resolve_keep_runs(None)
    assert "PROMPTLIB_ROLLBACK_KEEP_RUNS='many'" in str(raised.value)


def test_keep_runs_negative_rejected():
    with pytest.raises(ConfigurationError) as raised:
        artifacts.resolve_keep_runs(-1)
    assert "keep_runs=-1" in str(raised.value)


def test_load_run_result(tmp_path):
    make_run_folder(tmp_path, run_id(1))
    loaded = artifacts.load_result(run_id(1), tmp_path)
    assert isinstance(loaded, RunResult)
    assert loaded == make_result(run_id(1))


def test_load_drill_result(tmp_path):
    name = f"drill-app-failure-{run_id(1)}"
    make_run_folder(tmp_path, run_id(1), prefix="drill-app-failure-")
    loaded = artifacts.load_result(name, tmp_path)
    assert isinstance(loaded, DrillResult)
    assert loaded.rollback.run_id == run_id(1)


def test_load_run_inside_drill(tmp_path):
    drill_folder = make_run_folder(tmp_path, run_id(1), prefix="drill-app-failure-")
    make_run_folder(drill_folder, run_id(2, "abcdef01"))
    loaded = artifacts.load_result(run_id(2, "abcdef01"), tmp_path)
    assert loaded.run_id == run_id(2, "abcdef01")


def test_load_unknown_run(tmp_path):
    with pytest.raises(RunNotFoundError) as raised:
        artifacts.load_result(run_id(9), tmp_path)
    assert run_id(9) in str(raised.value)
    assert str(tmp_path) in str(raised.value)


def test_load_malformed_run_id(tmp_path):
    with pytest.raises(RunNotFoundError) as raised:
        artifacts.load_result("../etc", tmp_path)
    assert "'../etc' is not a run id" in str(raised.value)


def test_load_unfinished_run(tmp_path):
    make_run_folder(tmp_path, run_id(1), finished=False)
    with pytest.raises(RunNotFoundError) as raised:
        artifacts.load_result(run_id(1), tmp_path)
    assert "still going or died" in str(raised.value)


def test_load_damaged_result(tmp_path):
    folder = make_run_folder(tmp_path, run_id(1), finished=False)
    (folder / artifacts.RUN_RESULT_FILE).write_text("{not json")
    with pytest.raises(ConfigurationError) as raised:
        artifacts.load_result(run_id(1), tmp_path)
    assert "cannot be read as a result" in str(raised.value)
